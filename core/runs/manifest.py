"""The run manifest, ``run.json``: what a run folder is and what its results were made from.

One reader and one writer (:class:`~.store.ResultsStore` calls them): every field has a type,
a manifest with a field of the wrong type is refused with the file and the field named, and
fields this version does not know are kept as they are, so a run stays readable by the
version that made it. Nothing missing is made up: ``version``, which every writer has
written, is required; a field a run has not recorded yet reads as None; ``data.limit``, which
runs made before the move into ``fourier_masks`` did not record, reads as "no limit" with
a log line saying so.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.datasets import DataRequest
from ..errors import ConfigError, OutputError
from ..preparation import Preparation
from .provenance import PROVENANCE_FIELDS

RUN_FORMAT = "fourier-masks/run"
RUN_FORMAT_VERSION = 1

log = logging.getLogger(__name__)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class DataRecord:
    """The data a run's results were made from, prepared as its models take them (``size``,
    ``resize`` and ``interpolation``: :class:`~fourier_masks.core.preparation.Preparation`):
    enough to load its validation images again (:meth:`request`)."""

    spec: str
    size: int
    channels: int
    seed: int
    train_per_class: int
    val_per_class: int
    limit: int | None = None
    resize: int = 0
    interpolation: str = "bilinear"
    whole: bool = False

    @classmethod
    def of(cls, request: DataRequest, size: int | Preparation, channels: int) -> DataRecord:
        prep = Preparation.of(size)
        return cls(
            spec=request.spec,
            size=prep.size,
            channels=channels,
            seed=request.seed,
            train_per_class=request.train_per_class,
            val_per_class=request.val_per_class,
            limit=request.limit,
            resize=prep.resize,
            interpolation=prep.interpolation,
            whole=request.whole,
        )

    @property
    def preparation(self) -> Preparation:
        return Preparation(self.size, self.resize, self.interpolation)

    def request(self) -> DataRequest:
        """The data as a request (load it with ``request().load(record.preparation, record.channels)``)."""
        return DataRequest(
            spec=self.spec,
            seed=self.seed,
            train_per_class=self.train_per_class,
            val_per_class=self.val_per_class,
            limit=self.limit,
            whole=self.whole,
        )


@dataclass(frozen=True)
class RunManifest:
    """``run.json``. ``study``: the study's settings (:meth:`StudyConfig.to_dict`), when a study
    made the run; ``data``: what its results were made from; ``status`` and ``seconds``: how
    the study's last session ended; ``provenance``: the software and hardware of the first
    job that computed into the run (:class:`~.provenance.Provenance`), ``later_provenance``
    those of the later ones, oldest first, the last :data:`LATER_PROVENANCE_KEPT` of them;
    ``extra``: fields this version does not know. None: not recorded (``created`` too, when a
    run.json has lost it: it is never set to the time it was read)."""

    format: str = RUN_FORMAT
    version: int = RUN_FORMAT_VERSION
    created: str | None = field(default_factory=_now)
    updated: str | None = None
    study: dict[str, Any] | None = None
    data: DataRecord | None = None
    classes: tuple[str, ...] | None = None
    train_images: int | None = None
    val_images: int | None = None
    single_image_set: int | None = None
    status: str | None = None
    seconds: float | None = None
    provenance: dict[str, Any] | None = None
    later_provenance: tuple[dict[str, Any], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        record = {k: v for k, v in dataclasses.asdict(self).items() if k != "extra" and v is not None}
        if self.classes is not None:
            record["classes"] = list(self.classes)
        if self.later_provenance is not None:
            record["later_provenance"] = list(self.later_provenance)
        return json.dumps({**self.extra, **record}, indent=2, sort_keys=True) + "\n"

    def updated_with(self, **fields: Any) -> RunManifest:
        return dataclasses.replace(self, **fields, updated=_now())

    @property
    def last_provenance(self) -> dict[str, Any] | None:
        """The provenance of the last job recorded (None: none recorded, as in older runs)."""
        return self.later_provenance[-1] if self.later_provenance else self.provenance

    def with_provenance(self, record: dict[str, Any]) -> RunManifest:
        """This manifest with a job's provenance recorded: as the run's first, or appended to
        the later ones (the oldest dropped beyond :data:`LATER_PROVENANCE_KEPT`)."""
        if self.provenance is None:
            return self.updated_with(provenance=record)
        later = (*(self.later_provenance or ()), record)[-LATER_PROVENANCE_KEPT:]
        return self.updated_with(later_provenance=later)


# How many later jobs' provenance run.json keeps (a run resumed every hour for weeks stays small).
LATER_PROVENANCE_KEPT = 50


# Each field's JSON types: the types a valid manifest has for it.
_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "version": (int,),
    "created": (str,),
    "updated": (str,),
    "study": (dict,),
    "data": (dict,),
    "classes": (list,),
    "train_images": (int,),
    "val_images": (int,),
    "single_image_set": (int,),
    "status": (str,),
    "seconds": (int, float),
    "provenance": (dict,),
    "later_provenance": (list,),
}
_DATA_TYPES: dict[str, tuple[type, ...]] = {
    "spec": (str,),
    "size": (int,),
    "channels": (int,),
    "seed": (int,),
    "train_per_class": (int,),
    "val_per_class": (int,),
    "limit": (int, type(None)),
    "resize": (int,),
    "interpolation": (str,),
    "whole": (bool,),
}


def read_manifest(path: Path) -> RunManifest:
    """``run.json`` at ``path``, checked; :class:`OutputError` naming the file and the field
    when it is missing, not JSON, not a Fourier Masks run, from a newer version, lacks its
    version or part of its data record, or holds a field of the wrong type or value."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputError(f"{path.parent} is not a Fourier Masks run folder (no run.json)") from None
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise OutputError(f"{path} is damaged ({one_line(exc)}); {_REMEDY}") from None
    if not isinstance(raw, dict) or raw.get("format") != RUN_FORMAT:
        raise OutputError(f"{path} does not describe a Fourier Masks run; choose another folder")
    _refuse(path, type_problem(raw, _TYPES))
    if "version" not in raw:
        # Its layout cannot be known: every version's writer records it.
        raise OutputError(f'{path} lacks its format version ("version"); {_REMEDY}')
    if raw["version"] > RUN_FORMAT_VERSION:
        raise OutputError(f"{path.parent} was written by a newer Fourier Masks; upgrade to open it")
    known = {k: raw[k] for k in _TYPES if k in raw}
    if "data" in known:
        _refuse(path, type_problem(known["data"], _DATA_TYPES, "data."))
        missing = [
            k for k in _DATA_TYPES if k not in ("limit", "resize", "interpolation", "whole") and k not in known["data"]
        ]
        if missing:
            raise OutputError(f"{path}: data lacks {', '.join(missing)}; the run cannot reload its data")
        if "limit" not in known["data"]:
            log.info(
                "%s: data.limit is not recorded (runs made before the move into fourier_masks did "
                "not record --limit); its data is reloaded without a limit",
                path,
            )
        known["data"] = DataRecord(**{k: known["data"][k] for k in _DATA_TYPES if k in known["data"]})
        _refuse(path, _data_problem(known["data"]))
    if "classes" in known:
        if not all(isinstance(name, str) for name in known["classes"]):
            _refuse(path, "classes should be a list of names")
        known["classes"] = tuple(known["classes"])
    if "provenance" in known:
        _refuse(path, type_problem(known["provenance"], PROVENANCE_FIELDS, "provenance."))
    if "later_provenance" in known:
        for k, entry in enumerate(known["later_provenance"]):
            if not isinstance(entry, dict):
                _refuse(path, f"later_provenance[{k}] should be dict, not {json_type(type(entry))}")
            _refuse(path, type_problem(entry, PROVENANCE_FIELDS, f"later_provenance[{k}]."))
        known["later_provenance"] = tuple(known["later_provenance"])
    known.setdefault("created", None)  # not recorded: never the time of this read
    return RunManifest(**known, extra={k: v for k, v in raw.items() if k not in _TYPES})


_REMEDY = "restore the file from a backup, or start a new run folder"


def _refuse(path: Path, problem: str | None) -> None:
    if problem is not None:
        raise OutputError(f"{path}: {problem}; {_REMEDY}")


def _data_problem(record: DataRecord) -> str | None:
    """What makes a well-typed data record unusable: values no data can be loaded with."""
    if record.channels not in (1, 3):
        return f"data.channels should be 1 or 3, not {record.channels}"
    for key in ("train_per_class", "val_per_class", "resize"):
        if getattr(record, key) < 0:
            return f"data.{key} should be 0 or more, not {getattr(record, key)}"
    if record.limit is not None and record.limit < 1:
        return f"data.limit should be at least 1 or null, not {record.limit}"
    try:
        record.preparation  # noqa: B018 - checks size, resize and interpolation together
    except ConfigError as exc:
        return f"data: {exc}"
    return None


def one_line(what: object, limit: int = 160) -> str:
    """An exception's message (or any text) on one line, cut to ``limit`` characters: a
    library's message may span lines, an error of ours never does."""
    text = " ".join(str(what).split()) or type(what).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type(kind: type) -> str:
    """A JSON value's type as a message names it (``int``, ``str``, ``dict``, ``null``)."""
    return "null" if kind is type(None) else kind.__name__


def type_problem(raw: dict[str, Any], types: dict[str, tuple[type, ...]], prefix: str = "") -> str | None:
    """The first field of ``raw`` whose JSON type is none of those ``types`` allows for it,
    said as ``data.size should be int, not str ('16')``; None when every field is right.
    bool is an int to Python, never to a file: it passes only where bool is allowed."""
    for key, allowed in types.items():
        if key not in raw:
            continue
        value = raw[key]
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            expected = " or ".join(json_type(t) for t in allowed)
            return f"{prefix}{key} should be {expected}, not {json_type(type(value))} ({one_line(repr(value), 60)})"
    return None
