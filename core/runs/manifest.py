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
from ..errors import OutputError
from ..preparation import Preparation

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
    the study's last session ended; ``extra``: fields this version does not know. None: not
    recorded (``created`` too, when a run.json has lost it: it is never set to the time it
    was read)."""

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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        record = {k: v for k, v in dataclasses.asdict(self).items() if k != "extra" and v is not None}
        if self.classes is not None:
            record["classes"] = list(self.classes)
        return json.dumps({**self.extra, **record}, indent=2, sort_keys=True) + "\n"

    def updated_with(self, **fields: Any) -> RunManifest:
        return dataclasses.replace(self, **fields, updated=_now())


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
    version or part of its data record, or holds a field of the wrong type."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputError(f"{path.parent} is not a Fourier Masks run folder (no run.json)") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise OutputError(f"{path} is damaged ({exc}); restore it from a backup, or start a new run folder") from None
    if not isinstance(raw, dict) or raw.get("format") != RUN_FORMAT:
        raise OutputError(f"{path} does not describe a Fourier Masks run; choose another folder")
    _check_types(raw, _TYPES, path, "")
    if "version" not in raw:
        # Its layout cannot be known: every version's writer records it.
        raise OutputError(
            f'{path} lacks its format version ("version"); restore the file from a backup, or start a new run folder'
        )
    if raw["version"] > RUN_FORMAT_VERSION:
        raise OutputError(f"{path.parent} was written by a newer Fourier Masks; upgrade to open it")
    known = {k: raw[k] for k in _TYPES if k in raw}
    if "data" in known:
        _check_types(known["data"], _DATA_TYPES, path, "data.")
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
    if "classes" in known:
        if not all(isinstance(name, str) for name in known["classes"]):
            raise OutputError(f"{path}: classes must be a list of names")
        known["classes"] = tuple(known["classes"])
    known.setdefault("created", None)  # not recorded: never the time of this read
    return RunManifest(**known, extra={k: v for k, v in raw.items() if k not in _TYPES})


def _check_types(raw: dict[str, Any], types: dict[str, tuple[type, ...]], path: Path, prefix: str) -> None:
    for key, allowed in types.items():
        if key not in raw:
            continue
        value = raw[key]
        # bool is an int to Python, never to a manifest
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise OutputError(
                f"{path}: {prefix}{key} should be {expected}, not {type(value).__name__} ({value!r:.60}); "
                "restore the file from a backup, or start a new run folder"
            )
