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

Masks use the unshifted DFT layout (``"layout": "unshifted-dft"`` in their meta.json; see
:mod:`fourier_masks.core.spectra.fourier`). Every file is written to a temporary name and
renamed into place, so a killed process leaves either the old state or the new file, never
half a file. Mask files are write-once (and read-only on disk): the store refuses to overwrite
them. Per-image shards are named by writer and sequence number, so several processes or
machines can append to the same group at once; a resumed run asks
:meth:`ResultsStore.finished_ids` what is left to do.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
import zipfile
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import OutputError
from ..files import atomic_write_bytes, atomic_write_text, ensure_writable_dir, safe_name
from ..spectra.fourier import MASK_LAYOUT
from .manifest import DataRecord, RunManifest, read_manifest

log = logging.getLogger(__name__)


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub takes any keyword for allow_pickle
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array))
    return buffer.getvalue()


# Shard arrays named so hold data of the whole shard (ragged per image), not one row per image.
SHARD_WIDE_PREFIX = "history_"
MODEL_SUFFIXES = (".safetensors", ".pt", ".pt2")  # a new model takes the first


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


class ResultsStore:
    """Read and write one run folder (see the module docstring for the layout).

    ``overwrite``: derived files (tables, figures, data arrays) that already exist are
    rewritten only when their new content is the same (a no-op) unless this is true; the
    CLI sets it from ``--force`` and the app for the runs it manages."""

    def __init__(self, root: str | os.PathLike, *, create: bool = True, overwrite: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.overwrite = overwrite
        if create:
            ensure_writable_dir(self.root)
            if not (self.root / "run.json").exists():
                atomic_write_text(self.root / "run.json", RunManifest().to_json())
        read_manifest(self.root / "run.json")  # refuses a folder that is not a run, or a damaged or newer run.json
        self._writer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._sequence = 0

    @classmethod
    def open(cls, root: str | os.PathLike, overwrite: bool = False) -> ResultsStore:
        """An existing run, for reading (and adding to)."""
        return cls(root, create=False, overwrite=overwrite)

    def write_derived(self, path: Path, data: bytes) -> Path:
        """Write a derived file (table, figure, array) unless that would silently replace
        different content: an identical file is left as it is."""
        if path.exists():
            if path.read_bytes() == data:
                return path
            if not self.overwrite:
                raise OutputError(
                    f"{path} already exists with other content; pass --force to replace it "
                    "(or write into another run folder)"
                )
        return atomic_write_bytes(path, data)

    def path(self, name: str) -> Path:
        return self.root / safe_name(name)

    # --- generic files -----------------------------------------------------------------------

    def read_json(self, name: str) -> Any:
        path = self.path(name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OutputError(f"{path} is missing from the run") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise OutputError(
                f"{path} is damaged ({exc}); restore it from a backup, or start a new run folder"
            ) from None

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    # --- the manifest (run.json) ------------------------------------------------------------

    @property
    def manifest(self) -> RunManifest:
        """``run.json``, checked (:func:`.manifest.read_manifest`)."""
        return read_manifest(self.root / "run.json")

    def update_manifest(self, **fields: Any) -> None:
        """Set :class:`RunManifest` fields (the one writer of ``run.json``)."""
        atomic_write_text(self.root / "run.json", self.manifest.updated_with(**fields).to_json())

    def record_data(self, record: DataRecord, *, replace: bool = False) -> None:
        """Record the data the run's results are made from, unless a record is there already
        (``replace``: the new one wins, as when models are compared on other data)."""
        if replace or self.manifest.data is None:
            self.update_manifest(data=record)

    def save_arrays(self, name: str, **arrays: npt.ArrayLike) -> Path:
        return self.write_derived(
            self.path(f"data/{name}.npz"), _npz_bytes(**{k: np.asarray(v) for k, v in arrays.items()})
        )

    def load_arrays(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.path(f"data/{name}.npz"), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

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

    def mask_groups(self) -> list[str]:
        base = self.root / "masks"
        if not base.is_dir():
            return []
        return sorted(p.parent.relative_to(base).as_posix() for p in base.rglob("meta.json"))

    def has_masks(self, group: str) -> bool:
        folder = self._mask_dir(group)
        return (folder / "mask.npy").is_file() or (folder / "masks.npy").is_file()

    def _write_meta(self, group: str, kind: str, meta: dict[str, Any]) -> None:
        folder = self._mask_dir(group)
        record = {**meta, "kind": kind, "layout": MASK_LAYOUT, "group": group}
        target = folder / "meta.json"
        if target.exists():
            existing = json.loads(target.read_text(encoding="utf-8"))
            if existing.get("kind") != kind:
                raise OutputError(f"mask group {group!r} already holds {existing.get('kind')} masks")
            return
        atomic_write_text(
            target, json.dumps(record, indent=2, sort_keys=True, default=_jsonable) + "\n", read_only=True
        )

    def mask_meta(self, group: str) -> dict[str, Any]:
        return self.read_json(f"masks/{group}/meta.json")

    def save_set_mask(self, group: str, mask: np.ndarray, meta: dict[str, Any]) -> None:
        """A dataset mask ``(Cm, H, W)``; write-once."""
        self._write_meta(group, "set", {**meta, "shape": list(mask.shape)})
        atomic_write_bytes(
            self._mask_dir(group) / "mask.npy", _npy_bytes(mask.astype(np.float32)), overwrite=False, read_only=True
        )

    def load_set_mask(self, group: str) -> np.ndarray:
        return np.load(self._mask_dir(group) / "mask.npy", allow_pickle=False)

    def save_set_mask_history(self, group: str, **arrays: np.ndarray) -> None:
        """How a set mask converged (per-epoch curves, mask snapshots), beside the mask."""
        atomic_write_bytes(self._mask_dir(group) / "history.npz", _npz_bytes(**arrays), overwrite=False, read_only=True)

    def set_mask_history(self, group: str) -> dict[str, np.ndarray] | None:
        """The arrays :meth:`save_set_mask_history` wrote, or None (set masks of older runs)."""
        path = self._mask_dir(group) / "history.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def save_class_masks(self, group: str, masks: dict[int, np.ndarray], meta: dict[str, Any]) -> None:
        """Class masks as one ``(K, Cm, H, W)`` array; ``meta["classes"]`` lists the labels."""
        classes = sorted(masks)
        stacked = np.stack([masks[k] for k in classes]).astype(np.float32)
        self._write_meta(group, "class", {**meta, "classes": classes, "shape": list(stacked.shape)})
        atomic_write_bytes(self._mask_dir(group) / "masks.npy", _npy_bytes(stacked), overwrite=False, read_only=True)

    def load_class_masks(self, group: str) -> dict[int, np.ndarray]:
        classes = self.mask_meta(group)["classes"]
        stacked = np.load(self._mask_dir(group) / "masks.npy", allow_pickle=False)
        return dict(zip(classes, stacked))

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
        shared out to other machines from the store alone. Repeat calls keep the first."""
        meta_path = self._mask_dir(group) / "meta.json"
        if meta_path.exists():
            existing = json.loads(meta_path.read_text(encoding="utf-8"))
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
            atomic_write_bytes(inputs, payload, overwrite=False, read_only=True)
        (self._mask_dir(group) / "shards").mkdir(parents=True, exist_ok=True)

    def image_mask_inputs(self, group: str) -> dict[str, np.ndarray]:
        """The images (and labels, ids, ...) a per-image group masks."""
        with np.load(self._mask_dir(group) / "inputs.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def append_image_masks(self, group: str, ids: list[str], masks: np.ndarray, **arrays: np.ndarray) -> Path:
        """Add finished per-image masks as a new shard (write-once, atomic). ``arrays`` have one
        row per image, but those named ``history_*``, which the shard keeps whole."""
        if not (self._mask_dir(group) / "meta.json").exists():
            raise OutputError(f"mask group {group!r} was not begun")
        self._sequence += 1
        shard = self._mask_dir(group) / "shards" / f"part-{self._writer}-{self._sequence:06d}.npz"
        payload = _npz_bytes(ids=np.array(ids, dtype=str), masks=masks.astype(np.float32), **arrays)
        return atomic_write_bytes(shard, payload, overwrite=False, read_only=True)

    def _shards(self, group: str) -> list[Path]:
        folder = self._mask_dir(group) / "shards"
        return sorted(folder.glob("part-*.npz")) if folder.is_dir() else []

    def _read_shards(self, group: str, skip: AbstractSet[str] = frozenset()):
        """``(path, arrays)`` of every readable shard (but those named in ``skip``). A damaged
        shard (edited, or copied half-way) is skipped with a warning, so its images count as
        not done and are learned again rather than breaking the run."""
        for shard in self._shards(group):
            if shard.name in skip:
                continue
            try:
                with np.load(shard, allow_pickle=False) as data:
                    arrays = {k: data[k] for k in data.files}
                if "ids" not in arrays or "masks" not in arrays or len(arrays["ids"]) != len(arrays["masks"]):
                    raise ValueError("ids and masks missing or of different lengths")
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                log.warning("skipping damaged mask shard %s (%s); its images will be learned again", shard, exc)
                continue
            yield shard, arrays

    def finished_ids(self, group: str) -> set[str]:
        done: set[str] = set()
        for _, arrays in self._read_shards(group):
            done.update(arrays["ids"].tolist())
        return done

    def shard_arrays(self, group: str, shard: str) -> dict[str, np.ndarray]:
        """Everything one shard holds (a name from :attr:`StoredImageMasks.sources`)."""
        path = self._mask_dir(group) / "shards" / Path(shard).name
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise OutputError(f"cannot read mask shard {path}: {exc}") from None

    def load_image_masks(self, group: str, previous: StoredImageMasks | None = None) -> StoredImageMasks:
        """All finished masks of a group; ordered as the group's planned ids when known.

        With ``previous`` (an earlier read of the same group), only shards written since are
        read: a viewer can follow a running job without rereading everything."""
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
        # Only what every shard has: a group resumed by a newer version mixes old and new shards.
        arrays = {k: np.concatenate(v) for k, v in chunks.items() if sum(len(c) for c in v) == len(ids)}
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

    def save_table(self, table) -> Path:
        """A :class:`~fourier_masks.core.tables.Table` as CSV (header with units) and JSON."""
        name = safe_name(table.name)
        text = json.dumps(table.to_dict(), indent=2, sort_keys=True, default=_jsonable) + "\n"
        self.write_derived(self.path(f"tables/{name}.json"), text.encode("utf-8"))
        return self.write_derived(self.path(f"tables/{name}.csv"), table.to_csv().encode("utf-8"))

    def load_table(self, name: str):
        from ..tables import Table

        return Table.from_dict(self.read_json(f"tables/{name}.json"))

    def table_names(self) -> list[str]:
        folder = self.root / "tables"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    @property
    def figures_dir(self) -> Path:
        return ensure_writable_dir(self.root / "figures")


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
