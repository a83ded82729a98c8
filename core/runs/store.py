"""The results store: one folder per run, written as results are produced.

Layout of a run folder (``docs/results-store.md`` describes every file)::

    run.json                         what the run is and what it was made from (:mod:`.manifest`)
    models/<name>.safetensors        checkpoints (.pt/.pt2: older runs, TorchScript/torch.export models)
    masks/<group>/meta.json          what the masks are: kind, model, config, layout, ids
    masks/<group>/mask.npy           a set mask (Cm, H, W)
    masks/<group>/masks.npy          class masks (K, Cm, H, W), classes listed in meta.json
    masks/<group>/inputs.npz         per-image groups: the images, labels and ids masked
    masks/<group>/shards/*.npz       per-image masks, appended as they finish, with their
                                     statistics, class probabilities and (``history_*``
                                     arrays, ragged) convergence histories
    masks/<group>/history.npz        a set mask's per-epoch curves and mask snapshots
    tables/<name>.csv, <name>.json   tables with a header row and units (training curves too)
    data/<name>.npz                  other results (adversarial images, UMAP coordinates, ...)
    figures/<name>.png|.svg|.pdf
    report.html                      the whole report on one page (:mod:`fourier_masks.core.study.report_html`)
    .lock, .lock.json                the write lock and who holds it (:mod:`.lock`)
    .steps/<id>/                     a step of several files being written (:meth:`ResultsStore.step`)

Masks use the unshifted DFT layout (``"layout": "unshifted-dft"`` in their meta.json; see
:mod:`fourier_masks.core.spectra.fourier`). Every file is written to a temporary name and
renamed into place, so a killed process leaves either the old state or the new file, never
half a file; files that belong together (a trained model and its training table) are written
as one step. Mask files are write-once (and read-only on disk): the store refuses to
overwrite them. Per-image shards are named by writer and sequence number; a resumed run asks
:meth:`ResultsStore.finished_ids` what is left to do.

One job writes into a run at a time (:meth:`ResultsStore.lock_for_writing`). Every file is
checked when read: a damaged one raises :class:`OutputError` naming it and what to do, never
a raw numpy or zip error, and :meth:`ResultsStore.damage` lists them all, so a viewer can show
the damaged groups and go on with the rest. A damaged shard costs only its masks: they are
learned again.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import logging
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError, OutputError
from ..files import (
    DECODE_ERRORS,
    FileDamage,
    atomic_write_bytes,
    atomic_write_text,
    ensure_writable_dir,
    npy_header,
    npz_headers,
    read_npy,
    read_npz,
    safe_name,
)
from ..logs import notice_once
from ..masks.config import ImageMaskConfig, SetMaskConfig
from ..spectra.fourier import MASK_LAYOUT
from .lock import RunLock, command_line, holds_lock, lock_run, refuse_if_in_use
from .manifest import DataRecord, RunManifest, json_type, one_line, read_manifest, type_problem
from .provenance import JobDevice, Provenance, describe_differences

log = logging.getLogger(__name__)


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub takes any keyword for allow_pickle
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array))
    return buffer.getvalue()


# Shard arrays named so hold data of the whole shard (ragged per image), not one row per image.
SHARD_WIDE_PREFIX = "history_"
MODEL_SUFFIXES = (".safetensors", ".pt", ".pt2")  # a new model takes the first
STEPS = ".steps"
COMMIT = "commit.json"


def model_file(run: Path, name: str) -> Path:
    """The file of model ``name`` in the run folder ``run`` (see :meth:`ResultsStore.model_path`),
    found without opening the run."""
    for suffix in MODEL_SUFFIXES:
        candidate = run / "models" / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return run / "models" / f"{name}{MODEL_SUFFIXES[0]}"


@dataclass
class StoredImageMasks:
    """Per-image masks read back from a group, ordered by the group's planned ids.

    ``arrays`` hold one row per image: those every shard has (older shards may lack newer
    statistics). ``sources`` names each image's shard (see :meth:`ResultsStore.shard_arrays`)."""

    ids: list[str]
    masks: np.ndarray
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    shards: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, ids: Iterable[str]) -> StoredImageMasks:
        position = {i: k for k, i in enumerate(self.ids)}
        index = np.array([position[i] for i in ids], dtype=np.int64)
        return StoredImageMasks(
            ids=[self.ids[k] for k in index],
            masks=self.masks[index],
            arrays={k: v[index] for k, v in self.arrays.items()},
            meta=self.meta,
            sources=tuple(self.sources[k] for k in index) if self.sources else (),
        )  # a selection, not a whole read: no shards to continue from


# --- damage ----------------------------------------------------------------------------------

GROUP_REMEDY = "delete that group folder to relearn it, or restore it from a backup"
SHARD_REMEDY = "its images are learned again when the group is resumed"
TABLE_REMEDY = "delete it (the command that made it writes it again) or restore it from a backup"
DATA_REMEDY = "delete it to compute it again, or restore it from a backup"


@dataclass(frozen=True)
class Damage:
    """A damaged file of a run (:meth:`ResultsStore.damage`): the file, the mask group it
    belongs to (None for tables and data arrays), what is wrong and what to do. ``str()`` is
    the one line to show; :meth:`error` the error a reader raises for it."""

    path: Path
    problem: str
    remedy: str
    group: str | None = None

    def __str__(self) -> str:
        return f"{self.path} is damaged ({self.problem}); {self.remedy}"

    def error(self) -> OutputError:
        return OutputError(str(self))


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise FileDamage(problem)


def _is(dtype: np.dtype, kinds: str) -> bool:
    return dtype.kind in kinds


# Each meta.json field a reader uses, with its JSON types (numbers: int or float).
_NUMBER = (int, float)
_META_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "group": (str,),
    "layout": (str,),
    "model": (str,),
    "config": (dict,),
    "class_names": (list,),
    "role": (str,),
    "inputs": (str,),
    "dataset": (str,),
    "pairs_with": (str,),
    "attack": (dict,),
    "shape": (list,),
    "ids": (list,),
    "classes": (list,),
    "learned_on": (list,),
}
_KIND_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "set": {
        "accuracy": _NUMBER,
        "masked_accuracy": _NUMBER,
        "kept_fraction": _NUMBER,
        "images": (int,),
        "epochs": (int,),
        "epoch_kept": (int,),
        "converged": (bool,),
        "accuracy_met": (bool,),
        "history": (dict,),
    },
    "class": {"masked_accuracy": (dict,), "kept_fraction": (dict,), "converged": (dict,), "epoch_kept": (dict,)},
    "image": {},
}
_REQUIRED = {"set": ("model",), "class": ("model", "classes"), "image": ("model", "ids")}
_LIST_ITEMS: dict[str, type] = {"class_names": str, "ids": str, "learned_on": str, "classes": int, "shape": int}
_KIND_NAMES = {"set": "a set mask", "class": "class masks", "image": "per-image masks"}
_CONFIGS = {"set": SetMaskConfig, "class": SetMaskConfig, "image": ImageMaskConfig}


def _check_masks(path: Path, meta: dict[str, Any]) -> None:
    """A set mask (Cm, H, W) or class masks (K, Cm, H, W), as meta.json describes them."""
    shape, dtype = npy_header(path)
    rank = 3 if meta["kind"] == "set" else 4
    _require(len(shape) == rank and _is(dtype, "f"), f"a {dtype} array {shape}, not {rank}-D float masks")
    _require(meta.get("shape", list(shape)) == list(shape), f"shape {shape}, where meta.json says {meta.get('shape')}")
    if rank == 4:
        _require(shape[0] == len(meta["classes"]), f"{shape[0]} masks for {len(meta['classes'])} classes")


def _check_inputs(path: Path, meta: dict[str, Any]) -> None:
    """A per-image group's images (N, C, H, W), labels, ids (those meta.json plans) and targets."""
    headers = npz_headers(path)
    _require({"images", "labels", "ids"} <= set(headers), "no images, labels or ids")
    (images, image_type), (labels, label_type), (ids, id_type) = (headers[k] for k in ("images", "labels", "ids"))
    _require(len(images) == 4 and _is(image_type, "f"), f"images are a {image_type} array {images}")
    _require(labels == ids == images[:1] and len(ids) == 1, f"{images[0]} images, labels {labels}, ids {ids}")
    _require(_is(label_type, "iuf") and _is(id_type, "U"), "labels are not numbers or ids not text")
    if "targets" in headers:
        _require(headers["targets"][0] == labels and _is(headers["targets"][1], "iuf"), "targets do not fit")
    with np.load(path, allow_pickle=False) as data:
        _require(data["ids"].tolist() == meta["ids"], "ids other than meta.json plans")


def _config_types(config: type) -> dict[str, tuple[type, ...]]:
    """A config dataclass's fields and the JSON types of their defaults (a float takes an int)."""
    types: dict[str, tuple[type, ...]] = {}
    for f in dataclasses.fields(config):
        default = f.default
        if isinstance(default, bool):
            types[f.name] = (bool,)
        elif isinstance(default, int):
            types[f.name] = (int,)
        elif isinstance(default, float):
            types[f.name] = _NUMBER
        elif isinstance(default, str):
            types[f.name] = (str,)
    return types


def _meta_problem(meta: Any) -> str | None:
    """What makes a group's parsed meta.json unusable, or None."""
    if not isinstance(meta, dict):
        return f"it holds a JSON {json_type(type(meta))}, not an object"
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in _KIND_TYPES:
        return f"kind should be set, class or image, not {one_line(repr(kind), 40)}" if "kind" in meta else "no kind"
    problem = type_problem(meta, _META_TYPES) or type_problem(meta, _KIND_TYPES[kind])
    if problem:
        return problem
    missing = [k for k in _REQUIRED[kind] if k not in meta]
    if missing:
        return f"no {', '.join(missing)}"
    for key, item in _LIST_ITEMS.items():
        values = meta.get(key, [])
        if not all(isinstance(v, item) and not isinstance(v, bool) for v in values):
            return f"{key} should be a list of {'names' if item is str else 'whole numbers'}"
    if kind == "set" and isinstance(meta.get("history"), dict):
        for name, values in meta["history"].items():
            if not isinstance(values, list) or not all(isinstance(v, _NUMBER) for v in values):
                return f"history.{name} should be a list of numbers"
    if len(set(meta.get("ids", []))) != len(meta.get("ids", [])) or len(set(meta.get("classes", []))) != len(
        meta.get("classes", [])
    ):
        return "ids or classes repeat"
    config = meta.get("config")
    if config is not None:
        settings = _CONFIGS[kind]
        types = _config_types(settings)
        problem = type_problem(config, types, "config.")
        if problem:
            return problem
        try:
            settings(**{k: v for k, v in config.items() if k in types})
        except (ConfigError, TypeError, ValueError, OverflowError) as exc:
            return f"config: {one_line(exc, 80)}"
    return None


class ResultsStore:
    """Read and write one run folder (see the module docstring for the layout).

    ``overwrite``: derived files (tables, figures, data arrays) that already exist are
    rewritten only when their new content is the same (a no-op) unless this is true; the
    CLI sets it from ``--force`` and the app for the runs it manages.

    ``lock``: take the run's write lock at once (:meth:`lock_for_writing`), before anything
    is written; the command line does so for every command that writes.

    One writer per run. A job that writes holds the run's lock for its whole life, and a job
    of another process that tries to write into the run is refused with
    :class:`~fourier_masks.core.errors.RunInUseError` naming the holder (:mod:`.lock` says
    why refusal, not sharing). Two ways to hold it::

        with store.lock_for_writing():      # held for the block
            learn_image_masks_into_run(store, ...)

        store.lock_for_writing()            # held until store.release() (or the store is
        ...                                 # garbage-collected, or the process ends)
        store.release()

    Holds are counted per process, so the app may hold a run while it runs several jobs, and
    the engine may open and lock the same run again. Opening a run does not lock it; a store
    that holds no lock still checks before each write that no other process holds one.
    """

    def __init__(
        self, root: str | os.PathLike, *, create: bool = True, overwrite: bool = False, lock: bool = False
    ) -> None:
        self.root = Path(root).expanduser()
        self.overwrite = overwrite
        self._holds: list[RunLock] = []  # given back when the store is collected, unless also held elsewhere
        self._checked: dict[tuple[str, str], tuple[Any, Any]] = {}  # (what, where) → (stat key, verdict)
        self._command: str | None = None  # the job's command, as the lock names it (lock_for_writing)
        self._provenance_recorded = False  # this job's provenance is in run.json (record_provenance)
        if create:
            ensure_writable_dir(self.root)
            if lock:
                self.lock_for_writing()
            if not (self.root / "run.json").exists():
                self._write(self.root / "run.json", RunManifest().to_json().encode("utf-8"))
        read_manifest(self.root / "run.json")  # refuses a folder that is not a run, or a damaged or newer run.json
        if lock and not create:
            self.lock_for_writing()
        self._writer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0

    @classmethod
    def open(cls, root: str | os.PathLike, overwrite: bool = False, lock: bool = False) -> ResultsStore:
        """An existing run, for reading (and, locked, for adding to)."""
        return cls(root, create=False, overwrite=overwrite, lock=lock)

    # --- one writer ------------------------------------------------------------------------

    def lock_for_writing(self, command: str | None = None) -> RunLock:
        """Take (or, in this process, take again) the run's write lock and return the hold: a
        context manager, or give it back with :meth:`release`. :class:`RunInUseError` naming
        the other job when another process writes into the run. ``command`` is what a refused
        job is told the holder is running (default: this process's command line; the app
        passes e.g. ``"Fourier Masks app: Train…"``). A step a killed job left half-moved is
        finished first (:meth:`step`)."""
        hold = lock_run(self.root, command)
        self._holds[:] = [h for h in self._holds if not h.released] + [hold]
        self._command, self._provenance_recorded = command, False  # a new job: its provenance is its own
        self._finish_steps()
        return hold

    def release(self) -> None:
        """Give back every hold this store took (the run stays locked while other holds of
        this process are open)."""
        for hold in self._holds:
            hold.release()
        self._holds.clear()

    @property
    def writing(self) -> bool:
        """Whether this process holds the run's write lock."""
        return holds_lock(self.root)

    def check_writable(self) -> None:
        """:class:`RunInUseError` when another process writes into the run (for files written
        beside the store's own methods, such as checkpoints)."""
        if not self.writing:
            refuse_if_in_use(self.root)

    def _write(self, path: Path, data: bytes, **kwargs: Any) -> Path:
        self.check_writable()
        return atomic_write_bytes(path, data, **kwargs)

    # --- steps: several files, all or nothing ------------------------------------------------

    @contextmanager
    def step(self) -> Iterator[Step]:
        """Write several files as one step: what the block stages (:meth:`Step.path`,
        :meth:`Step.write`, or ``step=`` of :meth:`save_table` and :meth:`update_manifest`)
        goes to ``.steps/<id>/``; when the block ends, the list of those files is written as
        ``.steps/<id>/commit.json`` (the commit point) and each file is moved into place, models
        last. A block that raises leaves nothing.

        A kill before the commit point leaves the old files (the next writer deletes the
        staged ones); after it, the step is done: whichever files were not moved yet are moved
        by the next job that locks the run for writing, before it does anything else. Readers
        never look into ``.steps``."""
        self.check_writable()
        folder = self.root / STEPS / uuid.uuid4().hex
        folder.mkdir(parents=True)
        try:
            yield Step(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            _remove_if_empty(folder.parent)
            raise
        self.check_writable()
        names = sorted(
            (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
            key=lambda name: (name.startswith("models/"), name),  # the model, the step's purpose, last
        )
        atomic_write_text(folder / COMMIT, json.dumps({"files": names}) + "\n")
        self._finish_step(folder)
        _remove_if_empty(folder.parent)

    def _finish_step(self, folder: Path) -> None:
        """Move a committed step's files into place (those a killed job did not move yet)."""
        try:
            names = [safe_name(name) for name in json.loads((folder / COMMIT).read_text(encoding="utf-8"))["files"]]
        except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
            log.warning("dropping the step %s: its commit record is unreadable (%s)", folder, one_line(exc))
            names = []
        for name in names:
            staged, target = folder / name, self.path(name)
            if staged.exists():
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged, target)
                except OSError as exc:
                    raise OutputError(
                        f"could not move {staged} to {target} ({exc.strerror or exc}); the next job that "
                        f"writes into {self.root} moves it"
                    ) from None
        shutil.rmtree(folder, ignore_errors=True)

    def _finish_steps(self) -> None:
        """Steps killed jobs left: committed ones are finished, the others deleted (this
        process holds the lock, so none of them is still being written)."""
        base = self.root / STEPS
        if not base.is_dir():
            return
        for folder in sorted(base.iterdir()):
            if (folder / COMMIT).is_file():
                self._finish_step(folder)
            else:
                shutil.rmtree(folder, ignore_errors=True)
        _remove_if_empty(base)

    def write_derived(self, path: Path, data: bytes, *, step: Step | None = None) -> Path:
        """Write a derived file (table, figure, array) unless that would silently replace
        different content: an identical file is left as it is. ``step``: stage it there."""
        if path.exists():
            if path.read_bytes() == data:
                return path
            if not self.overwrite:
                raise OutputError(
                    f"{path} already exists with other content; pass --force to replace it "
                    "(or write into another run folder)"
                )
        if step is not None:
            return step.write(path.relative_to(self.root).as_posix(), data)
        return self._write(path, data)

    def path(self, name: str) -> Path:
        return self.root / safe_name(name)

    # --- generic files -----------------------------------------------------------------------

    def read_json(self, name: str) -> Any:
        path = self.path(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OutputError(f"{path} is missing from the run") from None
        except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise OutputError(
                f"{path} is damaged ({one_line(exc)}); restore it from a backup, or start a new run folder"
            ) from None

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def _verdict(self, what: str, where: Path, files: Iterable[Path], check):
        """``check()``'s verdict, remembered while ``files`` stay as they are (run files are
        written once or replaced whole, so their size, time and inode say when to look again)."""
        key = tuple(_stat_key(f) for f in files)
        cached = self._checked.get((what, str(where)))
        if cached is not None and cached[0] == key:
            return cached[1]
        verdict = check()
        self._checked[(what, str(where))] = (key, verdict)
        return verdict

    # --- the manifest (run.json) ------------------------------------------------------------

    @property
    def manifest(self) -> RunManifest:
        """``run.json``, checked (:func:`.manifest.read_manifest`)."""
        return read_manifest(self.root / "run.json")

    def update_manifest(self, *, step: Step | None = None, **fields: Any) -> None:
        """Set :class:`RunManifest` fields (the one writer of ``run.json``); ``step``: as part
        of that step."""
        text = self.manifest.updated_with(**fields).to_json().encode("utf-8")
        if step is not None:
            step.write("run.json", text)
        else:
            self._write(self.root / "run.json", text)

    def record_provenance(self, device: JobDevice) -> None:
        """Record the software and hardware of the job writing into the run (once per job: a
        job is what holds the store's lock, :meth:`lock_for_writing`, named by the command the
        lock names), computing on ``device`` (a :class:`torch.device`, or a Ray cluster's
        description). When the last job recorded ran other versions (Fourier Masks, PyTorch,
        NumPy, CUDA, cuDNN) or on another device, the user hears once that what this job adds
        may differ from an uninterrupted run; what the run holds is kept. Runs made before
        provenance was recorded are resumed silently.

        Called by the workflows that compute what a run keeps from job to job (models, set,
        class and per-image masks: :mod:`.workflows`, :func:`.executors.run_mask_units`), the
        narrowest place where the device is known; tables and figures are written whole by
        the job that makes them, so they never mix two setups."""
        if self._provenance_recorded:
            return
        now = Provenance.of_this_process(device, self._command or command_line(limit=2000)).to_dict()
        manifest = self.manifest
        earlier = manifest.last_provenance
        if earlier is not None:
            differences = describe_differences(earlier, now)
            if differences:
                notice_once(
                    f"provenance:{os.path.realpath(self.root)}",
                    f"{self.root} was last written on another setup ({'; '.join(differences)}): what this job "
                    "adds may differ from the results of an uninterrupted run; the masks already stored are kept",
                )
        self._write(self.root / "run.json", manifest.with_provenance(now).to_json().encode("utf-8"))
        self._provenance_recorded = True

    def record_data(self, record: DataRecord, *, replace: bool = False, step: Step | None = None) -> None:
        """Record the data the run's results are made from, unless a record is there already
        (``replace``: the new one wins, as when models are compared on other data)."""
        if replace or self.manifest.data is None:
            self.update_manifest(data=record, step=step)

    def save_arrays(self, name: str, **arrays: npt.ArrayLike) -> Path:
        return self.write_derived(
            self.path(f"data/{name}.npz"), _npz_bytes(**{k: np.asarray(v) for k, v in arrays.items()})
        )

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        path = self.path(f"data/{name}.npz")
        if not path.is_file():
            raise OutputError(f"{path} is missing from the run")
        try:
            return read_npz(path)
        except DECODE_ERRORS as exc:
            raise Damage(path, one_line(exc), DATA_REMEDY).error() from None

    # --- models ------------------------------------------------------------------------------

    def model_path(self, name: str) -> Path:
        """The model's file: the one the run holds (``.safetensors``; ``.pt``/``.pt2`` for runs
        made before checkpoints were safetensors, and for TorchScript/``torch.export`` models),
        or where a new one goes (``.safetensors``; :func:`~..models.save_checkpoint` puts a
        graph beside it in its own format)."""
        self.path(f"models/{name}")  # checks the name
        return model_file(self.root, name)

    def has_model(self, name: str) -> bool:
        return self.model_path(name).is_file()

    def model_names(self) -> list[str]:
        folder = self.root / "models"
        if not folder.is_dir():
            return []
        return sorted({p.stem for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES and p.is_file()})

    # --- masks -------------------------------------------------------------------------------

    def _mask_dir(self, group: str) -> Path:
        return self.path(f"masks/{group}")

    def _group_names(self) -> list[str]:
        """Every folder under ``masks/`` that holds a group's files (a meta.json, or files a
        group without one is damaged for lacking), by valid group name."""
        base = self.root / "masks"
        if not base.is_dir():
            return []
        found = set()
        for pattern in ("meta.json", "inputs.npz", "mask.npy", "masks.npy", "shards"):
            for p in base.rglob(pattern):
                name = p.parent.relative_to(base).as_posix()
                if p.parent.name != "shards" and _valid_name(name):
                    found.add(name)
        return sorted(found)

    def mask_groups(self, *, notice: bool = True) -> list[str]:
        """The run's mask groups, but the damaged ones: those :meth:`damage` lists, and the
        user hears of once (a notice, unless the caller lists the damage itself), so a
        report or a view made of the others says what it leaves out."""
        base = self.root / "masks"
        if not base.is_dir():
            return []
        groups = []
        for name in sorted(p.parent.relative_to(base).as_posix() for p in base.rglob("meta.json")):
            damage = self._group_damage(name) if _valid_name(name) else None
            if damage is not None:
                if notice:
                    notice_once(f"damaged-group:{damage}", f"mask group {name} is left out: {damage}")
            elif _valid_name(name):
                groups.append(name)
        return groups

    def holds_group(self, group: str) -> bool:
        """Whether the run holds ``group``: an :class:`OutputError` naming the damage when
        it holds it damaged (a job about to resume it says so first, not after its work)."""
        if group not in self._group_names():
            return False
        self._raise_group_damage(group)
        return True

    def has_masks(self, group: str) -> bool:
        folder = self._mask_dir(group)
        return (folder / "mask.npy").is_file() or (folder / "masks.npy").is_file()

    def _write_meta(self, group: str, kind: str, meta: dict[str, Any]) -> None:
        folder = self._mask_dir(group)
        record = {**meta, "kind": kind, "layout": MASK_LAYOUT, "group": group}
        target = folder / "meta.json"
        if target.exists():
            existing = self.mask_meta(group)
            if existing.get("kind") != kind:
                raise OutputError(f"mask group {group!r} already holds {existing.get('kind')} masks")
            return
        self._write(
            target, (json.dumps(record, indent=2, sort_keys=True, default=_jsonable) + "\n").encode(), read_only=True
        )

    def _read_meta(self, group: str) -> dict[str, Any] | Damage:
        path = self._mask_dir(group) / "meta.json"

        def check() -> dict[str, Any] | Damage:
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return Damage(path, "missing", GROUP_REMEDY, group)
            except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
                return Damage(path, f"not JSON: {one_line(exc, 80)}", GROUP_REMEDY, group)
            problem = _meta_problem(meta)
            return Damage(path, problem, GROUP_REMEDY, group) if problem else meta

        return self._verdict("meta", path, [path], check)

    def mask_meta(self, group: str) -> dict[str, Any]:
        """A group's meta.json, checked: :class:`OutputError` naming the file and the field
        when it is damaged."""
        meta = self._read_meta(group)
        if isinstance(meta, Damage):
            raise meta.error()
        return copy.deepcopy(meta)

    def _group_damage(self, group: str) -> Damage | None:
        """The first damaged file of a group's own files (meta.json and the kind's arrays;
        its shards are damage of their own, :meth:`_shard_damage`), or None. Arrays missing
        are a group not finished yet, not damage."""
        folder = self._mask_dir(group)
        files = [folder / n for n in ("meta.json", "mask.npy", "masks.npy", "history.npz", "inputs.npz")]

        def check() -> Damage | None:
            meta = self._read_meta(group)
            if isinstance(meta, Damage):
                return meta
            checks: dict[str, dict[str, Callable[[Path], object]]] = {
                "set": {"mask.npy": lambda path: _check_masks(path, meta), "history.npz": npz_headers},
                "class": {"masks.npy": lambda path: _check_masks(path, meta)},
                "image": {"inputs.npz": lambda path: _check_inputs(path, meta)},
            }
            for name, check_file in checks[meta["kind"]].items():
                path = folder / name
                try:
                    if path.is_file():
                        check_file(path)
                except DECODE_ERRORS as exc:
                    return Damage(path, one_line(exc), GROUP_REMEDY, group)
            return None

        return self._verdict("group", folder, files, check)

    def _mask_shape(self, group: str) -> tuple[int, ...] | None:
        """(Cm, H, W) of a per-image group's masks, from its images' header and its settings
        (None before its inputs are written, or when they are damaged: damage of its own)."""
        path = self._mask_dir(group) / "inputs.npz"

        def check() -> tuple[int, ...] | None:
            try:
                images = npz_headers(path)["images"][0]
                config = self.mask_meta(group).get("config") or {}
            except (*DECODE_ERRORS, OutputError):
                return None
            if len(images) != 4:
                return None
            return (images[1] if config.get("per_channel") else 1, images[2], images[3])

        return self._verdict("mask shape", path, [path, path.with_name("meta.json")], check)

    def _raise_group_damage(self, group: str, kind: str | None = None) -> None:
        """:class:`OutputError` when the group is damaged, or (``kind``) holds another kind of masks."""
        damage = self._group_damage(group)
        if damage is not None:
            raise damage.error()
        if kind is not None and (held := self.mask_meta(group)["kind"]) != kind:
            raise OutputError(f"mask group {group!r} holds {_KIND_NAMES[held]}, not {_KIND_NAMES[kind]}")

    def save_set_mask(self, group: str, mask: np.ndarray, meta: dict[str, Any]) -> None:
        """A dataset mask ``(Cm, H, W)``; write-once."""
        self._write_meta(group, "set", {**meta, "shape": list(mask.shape)})
        self._write(
            self._mask_dir(group) / "mask.npy", _npy_bytes(mask.astype(np.float32)), overwrite=False, read_only=True
        )

    def load_set_mask(self, group: str) -> np.ndarray:
        self._raise_group_damage(group, "set")
        path = self._mask_dir(group) / "mask.npy"
        return self._load_masks(group, path)

    def _load_masks(self, group: str, path: Path) -> np.ndarray:
        if not path.is_file():
            raise OutputError(f"mask group {group!r} has no {path.name} yet; learn its masks first")
        try:
            masks = read_npy(path)
            _require(bool(np.isfinite(masks).all()), "values that are not finite")
        except DECODE_ERRORS as exc:
            raise Damage(path, one_line(exc), GROUP_REMEDY, group).error() from None
        return masks

    def save_set_mask_history(self, group: str, **arrays: np.ndarray) -> None:
        """How a set mask converged (per-epoch curves, mask snapshots), beside the mask."""
        self._write(self._mask_dir(group) / "history.npz", _npz_bytes(**arrays), overwrite=False, read_only=True)

    def set_mask_history(self, group: str) -> dict[str, np.ndarray] | None:
        """The arrays :meth:`save_set_mask_history` wrote, or None (set masks of older runs)."""
        path = self._mask_dir(group) / "history.npz"
        if not path.is_file():
            return None
        self._raise_group_damage(group, "set")
        try:
            arrays = read_npz(path)
            epochs = len(arrays["steps"])
            for name in ("invariance", "kept_fraction", "preserved"):
                _require(arrays[name].shape == (epochs,), f"{name} has not one value per epoch")
            snapshots = arrays["snapshots"]
            _require(snapshots.ndim == 4 and len(arrays["snapshot_steps"]) == len(snapshots), "snapshots do not fit")
        except DECODE_ERRORS as exc:
            raise Damage(path, one_line(exc), GROUP_REMEDY, group).error() from None
        return arrays

    def save_class_masks(self, group: str, masks: dict[int, np.ndarray], meta: dict[str, Any]) -> None:
        """Class masks as one ``(K, Cm, H, W)`` array; ``meta["classes"]`` lists the labels."""
        classes = sorted(masks)
        stacked = np.stack([masks[k] for k in classes]).astype(np.float32)
        self._write_meta(group, "class", {**meta, "classes": classes, "shape": list(stacked.shape)})
        self._write(self._mask_dir(group) / "masks.npy", _npy_bytes(stacked), overwrite=False, read_only=True)

    def load_class_masks(self, group: str) -> dict[int, np.ndarray]:
        self._raise_group_damage(group, "class")
        classes = self.mask_meta(group)["classes"]
        return dict(zip(classes, self._load_masks(group, self._mask_dir(group) / "masks.npy")))

    def begin_image_masks(
        self,
        group: str,
        meta: dict[str, Any],
        images: np.ndarray,
        labels: np.ndarray,
        ids: list[str],
        **arrays: np.ndarray,
    ) -> None:
        """Declare a per-image group before shards arrive: its metadata and its inputs (the
        images to mask, their labels and ids), so the group can be resumed, evaluated or
        shared out to other machines from the store alone. Repeat calls keep the first; a
        damaged group is refused (:class:`OutputError` naming the file)."""
        meta_path = self._mask_dir(group) / "meta.json"
        if meta_path.exists():
            self._raise_group_damage(group, "image")
            existing = self.mask_meta(group)
            same_config = json.loads(json.dumps(meta.get("config"), default=_jsonable)) == existing.get("config")
            if existing.get("ids") != list(ids) or not same_config or existing.get("model") != meta.get("model"):
                raise OutputError(
                    f"mask group {group!r} already holds masks of other images, another model or other "
                    "settings; choose another group name (--group) to keep both"
                )
        self._write_meta(group, "image", {**meta, "ids": list(ids)})
        inputs = self._mask_dir(group) / "inputs.npz"
        if not inputs.exists():
            payload = _npz_bytes(
                images=images.astype(np.float32), labels=labels, ids=np.array(ids, dtype=str), **arrays
            )
            self._write(inputs, payload, overwrite=False, read_only=True)
        (self._mask_dir(group) / "shards").mkdir(parents=True, exist_ok=True)

    def image_mask_inputs(self, group: str) -> dict[str, np.ndarray]:
        """The images (and labels, ids, ...) a per-image group masks."""
        self._raise_group_damage(group, "image")
        path = self._mask_dir(group) / "inputs.npz"
        if not path.is_file():
            raise OutputError(f"mask group {group!r} has no inputs yet; learn its masks to declare them")
        try:
            arrays = read_npz(path)
            _require(bool(np.isfinite(arrays["images"]).all()), "images that are not finite")
        except DECODE_ERRORS as exc:
            raise Damage(path, one_line(exc), GROUP_REMEDY, group).error() from None
        return arrays

    def append_image_masks(self, group: str, ids: list[str], masks: np.ndarray, **arrays: np.ndarray) -> Path:
        """Add finished per-image masks as a new shard (write-once, atomic). ``arrays`` have one
        row per image, but those named ``history_*``, which the shard keeps whole."""
        if not (self._mask_dir(group) / "meta.json").exists():
            raise OutputError(f"mask group {group!r} was not begun")
        self._sequence += 1
        shard = self._mask_dir(group) / "shards" / f"part-{self._writer}-{self._sequence:06d}.npz"
        payload = _npz_bytes(ids=np.array(ids, dtype=str), masks=masks.astype(np.float32), **arrays)
        return self._write(shard, payload, overwrite=False, read_only=True)

    def _shards(self, group: str) -> list[Path]:
        folder = self._mask_dir(group) / "shards"
        return sorted(folder.glob("part-*.npz")) if folder.is_dir() else []

    @staticmethod
    def _check_shard(
        ids: np.ndarray, headers: dict[str, tuple[tuple[int, ...], np.dtype]], mask_shape: tuple[int, ...] | None
    ) -> None:
        """What every reader of a shard relies on: ids (``ids``) and masks of one length, one
        row per image in every per-image array (``headers``: shape and dtype by name), masks of
        the group's shape."""
        _require("masks" in headers, "no masks")
        shape, dtype = headers["masks"]
        _require(ids.ndim == 1 and _is(ids.dtype, "U"), "its ids are not a list of names")
        _require(len(set(ids.tolist())) == len(ids), "its ids repeat")
        _require(len(shape) == 4 and _is(dtype, "f"), f"masks are a {dtype} array {shape}")
        _require(mask_shape is None or shape[1:] == mask_shape, f"masks {shape[1:]} for a group of {mask_shape}")
        for key, (rows, _) in headers.items():
            if not key.startswith(SHARD_WIDE_PREFIX):
                _require(len(rows) >= 1 and rows[0] == len(ids), f"{key} has not one row per image")

    def _read_shards(self, group: str, skip: AbstractSet[str] = frozenset()):
        """``(path, arrays)`` of every readable shard (but those named in ``skip``). A damaged
        shard (edited, or copied half-way) is skipped and its images count as not done, so they
        are learned again; the user hears of it once (a notice), and a job that writes into
        the run moves it aside (renamed ``*.damaged``, kept for a look, never read again)."""
        mask_shape = self._mask_shape(group)
        for shard in self._shards(group):
            if shard.name in skip:
                continue
            try:
                arrays = read_npz(shard)
                _require("ids" in arrays, "no ids")
                self._check_shard(arrays["ids"], _headers_of(arrays), mask_shape)
                _require(bool(np.isfinite(arrays["masks"]).all()), "masks that are not finite")
            except DECODE_ERRORS as exc:
                self._set_aside(shard, one_line(exc))
                continue
            yield shard, arrays

    def _set_aside(self, shard: Path, problem: str) -> None:
        what = SHARD_REMEDY
        if self.writing:  # only a job that writes into the run moves files
            target, k = shard.with_name(f"{shard.name}.damaged"), 1
            while target.exists():
                target, k = shard.with_name(f"{shard.name}.damaged{k}"), k + 1
            try:
                os.replace(shard, target)
                what = f"moved aside to {target.name}, and its images are learned again"
            except OSError as exc:
                log.warning("could not move the damaged shard %s aside: %s", shard, exc)
        notice_once(f"damaged-shard:{shard}", f"mask shard {shard} is damaged ({problem}); {what}")

    def finished_ids(self, group: str) -> set[str]:
        done: set[str] = set()
        for _, arrays in self._read_shards(group):
            done.update(arrays["ids"].tolist())
        return done

    def shard_arrays(self, group: str, shard: str) -> dict[str, np.ndarray]:
        """Everything one shard holds (a name from :attr:`StoredImageMasks.sources`)."""
        path = self._mask_dir(group) / "shards" / Path(shard).name
        try:
            arrays = read_npz(path)
            _require("ids" in arrays, "no ids")
            self._check_shard(arrays["ids"], _headers_of(arrays), self._mask_shape(group))
        except FileNotFoundError:
            raise OutputError(f"{path} is missing; {SHARD_REMEDY}") from None
        except DECODE_ERRORS as exc:
            raise Damage(path, one_line(exc), SHARD_REMEDY, group).error() from None
        return arrays

    def load_image_masks(self, group: str, previous: StoredImageMasks | None = None) -> StoredImageMasks:
        """All finished masks of a group; ordered as the group's planned ids when known.

        With ``previous`` (an earlier read of the same group), only shards written since are
        read: a viewer can follow a running job without rereading everything."""
        if previous is None:
            self._raise_group_damage(group, "image")
        meta = previous.meta if previous is not None else self.mask_meta(group)
        known = set(previous.shards) if previous is not None else set()
        ids: list[str] = list(previous.ids) if previous is not None else []
        chunks: dict[str, list[np.ndarray]] = {}
        if previous is not None and len(previous):
            chunks["masks"] = [previous.masks]
            for key, values in previous.arrays.items():
                chunks.setdefault(key, []).append(values)
        sources: list[str] = list(previous.sources) if previous is not None else []
        seen: set[str] = set(ids)
        shards = sorted(known)
        for path, data in self._read_shards(group, skip=known):
            shards.append(path.name)
            keep = [k for k, i in enumerate(data["ids"].tolist()) if i not in seen]
            shard_ids = data["ids"][keep].tolist()
            seen.update(shard_ids)
            ids.extend(shard_ids)
            sources.extend([path.name] * len(shard_ids))
            for key, values in data.items():
                if key != "ids" and not key.startswith(SHARD_WIDE_PREFIX):
                    chunks.setdefault(key, []).append(values[keep])
        if not ids:
            raise OutputError(f"mask group {group!r} has no finished masks yet")
        # Only what every shard has, in one shape: a group resumed by a newer version mixes old and new shards.
        arrays = {
            k: np.concatenate(v)
            for k, v in chunks.items()
            if sum(len(c) for c in v) == len(ids) and len({c.shape[1:] for c in v}) == 1
        }
        planned = meta.get("ids") or sorted(ids)
        rank = {i: k for k, i in enumerate(planned)}
        order = np.argsort([rank.get(i, len(rank)) for i in ids], kind="stable")
        masks = arrays.pop("masks")[order]
        return StoredImageMasks(
            ids=[ids[k] for k in order],
            masks=masks,
            arrays={k: v[order] for k, v in arrays.items()},
            meta=meta,
            shards=tuple(sorted(shards)),
            sources=tuple(sources[k] for k in order),
        )

    # --- tables ------------------------------------------------------------------------------

    def save_table(self, table, *, step: Step | None = None) -> Path:
        """A :class:`~fourier_masks.core.tables.Table` as CSV (header with units) and JSON;
        ``step``: as part of that step."""
        name = safe_name(table.name)
        text = json.dumps(table.to_dict(), indent=2, sort_keys=True, default=_jsonable) + "\n"
        self.write_derived(self.path(f"tables/{name}.json"), text.encode("utf-8"), step=step)
        return self.write_derived(self.path(f"tables/{name}.csv"), table.to_csv().encode("utf-8"), step=step)

    def load_table(self, name: str):
        from ..tables import Table

        path = self.path(f"tables/{name}.json")
        if not path.is_file():
            raise OutputError(f"{path} is missing from the run")
        raw = _read_table(path)
        if isinstance(raw, Damage):
            raise raw.error()
        return Table.from_dict(raw)

    def table_names(self) -> list[str]:
        folder = self.root / "tables"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    @property
    def figures_dir(self) -> Path:
        return ensure_writable_dir(self.root / "figures")

    # --- damage ------------------------------------------------------------------------------

    def damage(self) -> list[Damage]:
        """Every damaged file of the run that can be found without reading every byte: each
        group's meta.json (syntax, shape, types, required fields), the headers and sizes of
        its arrays, its inputs' ids, each shard's arrays, each table and data array. A bit
        flip inside an array's data is found when the array is read (an :class:`OutputError`
        then; a shard's masks are learned again). The app lists these and goes on with the
        rest: :meth:`mask_groups` leaves damaged groups out."""
        found: list[Damage] = []
        for group in self._group_names():
            damage = self._group_damage(group)
            if damage is not None:
                found.append(damage)
                continue
            mask_shape = self._mask_shape(group)
            for shard in self._shards(group):
                damage = self._shard_damage(group, shard, mask_shape)
                if damage is not None:
                    found.append(damage)
        for path in sorted((self.root / "tables").glob("*.json")):
            table = _read_table(path)
            if isinstance(table, Damage):
                found.append(table)
        for path in sorted((self.root / "data").glob("*.npz")):
            try:
                npz_headers(path)
            except DECODE_ERRORS as exc:
                found.append(Damage(path, one_line(exc), DATA_REMEDY))
        return found

    def _shard_damage(self, group: str, shard: Path, mask_shape: tuple[int, ...] | None) -> Damage | None:
        def check() -> Damage | None:
            try:
                headers = npz_headers(shard)
                _require("ids" in headers, "no ids")
                with np.load(shard, allow_pickle=False) as data:
                    ids = data["ids"]
                self._check_shard(ids, headers, mask_shape)
            except DECODE_ERRORS as exc:
                return Damage(shard, one_line(exc), SHARD_REMEDY, group)
            return None

        return self._verdict("shard", shard, [shard], check)


class Step:
    """Files staged for one all-or-nothing write (:meth:`ResultsStore.step`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        """Where to stage the run's file ``name`` (``models/N.safetensors``), its folder made."""
        staged = self.folder / safe_name(name)
        staged.parent.mkdir(parents=True, exist_ok=True)
        return staged

    def write(self, name: str, data: bytes) -> Path:
        return atomic_write_bytes(self.path(name), data)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty: another step of this process began meanwhile


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        s = path.stat()
    except OSError:
        return None
    return (s.st_mtime_ns, s.st_size, s.st_ino)


def _valid_name(name: str) -> bool:
    try:
        safe_name(name)
    except ConfigError:
        return False
    return True


def _headers_of(arrays: dict[str, np.ndarray]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    return {k: (v.shape, v.dtype) for k, v in arrays.items()}


def _read_table(path: Path) -> dict[str, Any] | Damage:
    """A table's JSON, or what is wrong with it."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        return Damage(path, f"not JSON: {one_line(exc, 80)}", TABLE_REMEDY)
    problem = _table_problem(raw)
    return Damage(path, problem, TABLE_REMEDY) if problem else raw


def _table_problem(raw: Any) -> str | None:
    """What makes a table's JSON unreadable as a :class:`~fourier_masks.core.tables.Table`."""
    if not isinstance(raw, dict):
        return f"it holds a JSON {json_type(type(raw))}, not an object"
    problem = type_problem(raw, {"name": (str,), "title": (str,), "columns": (list,), "rows": (list,), "notes": (str,)})
    if problem or "name" not in raw or "columns" not in raw:
        return problem or "no name or columns"
    columns = raw["columns"]
    if not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("unit", ""), str) for c in columns
    ):
        return "columns should be objects with a name and a unit"
    for row in raw.get("rows", []):
        if not isinstance(row, list) or len(row) != len(columns):
            return f"a row has not {len(columns)} values"
        if not all(v is None or isinstance(v, (str, int, float)) for v in row):
            return "a row holds values that are not numbers or text"
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
