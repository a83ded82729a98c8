"""One mask group in one file, to share: its masks, what each is of, their statistics, and
the settings, model, data and provenance they were made with.

The run folder is the masks' home (many files, written as masks finish, resumable); an
exported group is a copy for someone without the run: one ``.safetensors`` file (tensors,
and the rest as JSON in the header's ``__metadata__``) or one ``.npz`` (the same arrays, and
the same JSON as the array ``metadata``), both readable without running code from the file
(no pickle). ``docs/results-store.md`` ("Exporting a mask group") describes the format;
:func:`read_exported_masks` reads it back.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, OutputError
from ..files import DECODE_ERRORS, atomic_write_bytes
from ..spectra.fourier import MASK_LAYOUT
from .manifest import one_line
from .store import SHARD_WIDE_PREFIX, ResultsStore

__all__ = ["EXPORT_FORMAT", "EXPORT_SUFFIXES", "ExportedMasks", "export_mask_group", "read_exported_masks"]

EXPORT_FORMAT = "fourier-masks/mask-group"
EXPORT_FORMAT_VERSION = 1
EXPORT_SUFFIXES = (".safetensors", ".npz")
METADATA_KEY = "fourier_masks"  # the safetensors __metadata__ key (and the npz array) holding the JSON

# A set mask's statistics in meta.json, and a class group's (one value per class, keyed by label).
_SET_STATISTICS = ("accuracy", "masked_accuracy", "kept_fraction", "images", "epochs", "epoch_kept", "converged")
_CLASS_STATISTICS = ("masked_accuracy", "kept_fraction", "converged", "epoch_kept")


@dataclass
class ExportedMasks:
    """A mask group read back from an exported file (:func:`read_exported_masks`).

    ``masks``: ``(n, Cm, H, W)`` float32 in the store's layout (unshifted DFT, ``layout``);
    ``ids``: what each mask is of (an image id, a class name, or ``all`` for a set mask);
    ``statistics``: one row per mask (kept fraction, steps, predictions, ...: whatever the
    group recorded); ``metadata``: the rest (group, kind, model, config, data, provenance)."""

    group: str
    kind: str
    ids: list[str]
    masks: np.ndarray
    statistics: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def layout(self) -> str:
        return str(self.metadata.get("layout", MASK_LAYOUT))

    def __len__(self) -> int:
        return len(self.ids)


def export_suffix(path: str | Path) -> str:
    """The format ``path``'s extension chooses; :class:`ConfigError` for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ConfigError(
            f"{path}: cannot export masks as {suffix or 'a file without an extension'}; "
            f"name the file .safetensors or .npz"
        )
    return suffix


def export_mask_group(store: ResultsStore, group: str, path: str | Path) -> ExportedMasks:
    """Write ``group`` of ``store`` to ``path`` (``.safetensors`` or ``.npz``, by its
    extension) in one atomic write, and return what was written. Per-image groups export
    their finished masks. :class:`ConfigError` for another extension, :class:`OutputError`
    for a group the run does not hold (naming those it holds) or one without masks yet."""
    path = Path(path)
    suffix = export_suffix(path)
    groups = store.mask_groups()
    if group not in groups:
        held = ", ".join(groups) if groups else "none"
        raise OutputError(f"{store.root} has no mask group {group!r}; its mask groups: {held}")
    exported = _collect(store, group)
    document = {**exported.metadata, "ids": exported.ids, "statistics": sorted(exported.statistics)}
    tensors = {"masks": exported.masks, **exported.statistics}
    text = json.dumps(document, sort_keys=True)
    if suffix == ".safetensors":
        from safetensors.numpy import save

        data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata={METADATA_KEY: text})
    else:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **tensors, **{METADATA_KEY: np.array(text)})  # type: ignore[arg-type]
        data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return exported


def _collect(store: ResultsStore, group: str) -> ExportedMasks:
    """The group's masks, ids, per-mask statistics and metadata, as the file holds them."""
    meta = store.mask_meta(group)
    kind = meta["kind"]
    statistics: dict[str, np.ndarray]
    if kind == "image":
        stored = store.load_image_masks(group)
        ids, masks = list(stored.ids), stored.masks
        statistics = {k: v for k, v in stored.arrays.items() if not k.startswith(SHARD_WIDE_PREFIX)}
        inputs = store.image_mask_inputs(group)
        position = {i: k for k, i in enumerate(inputs["ids"].tolist())}
        statistics["labels"] = inputs["labels"][[position[i] for i in ids]]
    elif kind == "class":
        classes = [int(c) for c in meta["classes"]]
        names = meta.get("class_names") or []
        loaded = store.load_class_masks(group)
        masks = np.stack([loaded[c] for c in classes])
        ids = [names[c] if 0 <= c < len(names) else str(c) for c in classes]
        statistics = {"classes": np.array(classes, dtype=np.int64)}
        for name in _CLASS_STATISTICS:
            values = meta.get(name)
            if isinstance(values, dict) and all(str(c) in values for c in classes):
                statistics[name] = np.array([values[str(c)] for c in classes])
    else:
        masks, ids = store.load_set_mask(group)[None], ["all"]
        statistics = {name: np.array([meta[name]]) for name in _SET_STATISTICS if name in meta}
    manifest = store.manifest
    settings = {k: v for k, v in meta.items() if k not in ("ids", *_CLASS_STATISTICS, *_SET_STATISTICS, "history")}
    metadata = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        **settings,
        "group": group,
        "kind": kind,
        "layout": meta.get("layout", MASK_LAYOUT),
        "model": meta.get("model"),
        "config": meta.get("config"),
        "run": store.root.name,
        "data": None if manifest.data is None else dataclasses.asdict(manifest.data),
        "provenance": manifest.provenance,
        "later_provenance": list(manifest.later_provenance or []),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return ExportedMasks(
        group=group,
        kind=kind,
        ids=ids,
        masks=np.asarray(masks, dtype=np.float32),
        statistics=statistics,
        metadata=metadata,
    )


def read_exported_masks(path: str | Path) -> ExportedMasks:
    """A mask group :func:`export_mask_group` wrote; :class:`OutputError` naming the file
    when it is not one (or is damaged)."""
    path = Path(path)
    suffix = export_suffix(path)
    from safetensors import SafetensorError

    try:
        if suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as handle:
                text = (handle.metadata() or {}).get(METADATA_KEY)
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - not a dict
        else:
            with np.load(path, allow_pickle=False) as data:
                tensors = {name: data[name] for name in data.files}
            raw = tensors.pop(METADATA_KEY, None)
            text = None if raw is None else str(raw)
    except FileNotFoundError:
        raise OutputError(f"{path} does not exist") from None
    except (*DECODE_ERRORS, SafetensorError) as exc:
        raise OutputError(f"{path} is not a readable exported mask group ({one_line(exc, 100)})") from None
    try:
        document = json.loads(text) if text is not None else None
    except ValueError:
        document = None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise OutputError(f"{path} is not a Fourier Masks mask group (export one with fourier-masks export-masks)")
    if not isinstance(document.get("format_version"), int) or document["format_version"] > EXPORT_FORMAT_VERSION:
        raise OutputError(f"{path} was written by a newer Fourier Masks; upgrade to read it")
    masks, ids = tensors.pop("masks", None), document.pop("ids", None)
    names = document.pop("statistics", sorted(tensors))
    if (
        masks is None
        or masks.ndim != 4
        or not isinstance(ids, list)
        or len(ids) != len(masks)
        or not all(isinstance(i, str) for i in ids)
        or any(name not in tensors or len(tensors[name]) != len(ids) for name in names)
    ):
        raise OutputError(f"{path} is damaged: its masks, ids and statistics do not fit together")
    return ExportedMasks(
        group=str(document.get("group")),
        kind=str(document.get("kind")),
        ids=ids,
        masks=masks,
        statistics={name: tensors[name] for name in names},
        metadata=document,
    )
