"""The app's state: the open run, the loaded models, the selection. No widgets here.

Views subscribe to the signals and read results through the accessors, which cache what
they read from the :class:`~fourier_masks.core.runs.ResultsStore` and drop the cache when the run
changes. Everything shown comes from the store, so what a user sees after reopening a run
is what they saw when it was made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from fourier_masks.core.devices import resolve_device
from fourier_masks.core.errors import ConfigError, FourierMasksError, OutputError
from fourier_masks.core.masks import MaskHistory
from fourier_masks.core.models import Classifier
from fourier_masks.core.runs import (
    PROBABILITIES,
    ResultsStore,
    StoredImageMasks,
    group_label,
    image_mask_history,
    set_mask_history,
)
from fourier_masks.core.study import RunContents, discover
from fourier_masks.core.tables import Table

from .settings import AppPaths

__all__ = ["Workbench"]

log = logging.getLogger(__name__)


class Workbench(QObject):
    runChanged = Signal()  # another run folder is open
    contentsChanged = Signal()  # the open run gained results
    modelsChanged = Signal()
    selectionChanged = Signal(str, str)  # group, image id
    groupGrew = Signal(str)  # a running job added masks to this group
    message = Signal(str, str)  # level ("info", "warning", "error"), text
    jobChanged = Signal(str)  # the running job's name, "" when none runs
    damageChanged = Signal()  # a damaged part of the open run was found (see ``damage``)

    def __init__(self, paths: AppPaths, device: str = "auto", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.store: ResultsStore | None = None
        self.models: dict[str, Classifier] = {}
        self.current_model: str | None = None
        self.selected: tuple[str, str] | None = None
        self._device_name = device
        self.device = resolve_device(device)
        self._cache: dict[Any, Any] = {}
        self.job = ""  # the running job's name (status texts must not contradict it)
        self.damage: dict[str, str] = {}  # damaged parts of the open run ("masks/<group>", ...) → what is wrong
        self.shard_damage: list[str] = []  # damaged shards of the open run: said once, relearned, not read-only

    def set_job(self, name: str) -> None:
        self.job = name
        self.jobChanged.emit(name)

    # --- settings ----------------------------------------------------------------------------

    def set_device(self, name: str) -> None:
        device = resolve_device(name)
        self._device_name, self.device = name, device
        for model in self.models.values():
            model.to(device)

    @property
    def device_name(self) -> str:
        return self._device_name

    # --- the run -----------------------------------------------------------------------------

    def ensure_store(self) -> ResultsStore:
        """The open run, or a new session run under the app's data folder."""
        if self.store is None:
            root = self.paths.runs / time.strftime("session-%Y%m%d-%H%M%S")
            k = 2
            while root.exists():
                root = root.with_name(f"{root.name}-{k}")
                k += 1
            self._set_store(ResultsStore(root, overwrite=True))
        return self.store

    def open_run(self, path: str | Path) -> None:
        """Open a run folder and load its models (bad ones are reported, not fatal)."""
        from fourier_masks.core.models import load_model

        store = ResultsStore.open(path, overwrite=True)  # the app recomputes tables as results grow
        models: dict[str, Classifier] = {}
        for name in store.model_names():
            try:
                models[name] = load_model(store.model_path(name), device=self.device)
            except FourierMasksError as exc:
                self.message.emit("warning", f"model {name} of the run could not be loaded: {exc}")
        self.models = models
        self.current_model = "N" if "N" in models else next(iter(models), None)
        self._set_store(store)
        self.shard_damage = []
        for damage in store.damage():
            if damage.path.parent.name == "shards":  # its images are learned again: no reason to stop writing
                self.shard_damage.append(str(damage))
            else:
                self.note_damage(
                    f"masks/{damage.group}" if damage.group else str(damage.path.relative_to(store.root)), str(damage)
                )
        self.modelsChanged.emit()

    def _set_store(self, store: ResultsStore) -> None:
        self.store = store
        self._cache.clear()
        self.damage = {}
        self.selected = None
        self.runChanged.emit()

    def refresh(self) -> None:
        """The run changed on disk (a job wrote to it): drop cached reads and tell the views."""
        self._cache.clear()
        self.contentsChanged.emit()

    def refresh_group(self, group: str) -> None:
        """A running job added masks to ``group``: read only its new shards and tell the views
        that follow it (cheap enough to do every few seconds during a long job)."""
        if self.store is None or group not in self.store.mask_groups():
            return
        previous = self._cache.get(("masks", group))
        try:
            self._cache[("masks", group)] = self.store.load_image_masks(group, previous)
        except FourierMasksError:
            return
        self.groupGrew.emit(self.shown_group(group))

    def sync_models(self) -> None:
        """Load the run's models that appeared since it was opened (a running study adds them)."""
        from fourier_masks.core.models import load_model

        if self.store is None:
            return
        new = {}
        for name in self.store.model_names():
            if name not in self.models:
                try:
                    new[name] = load_model(self.store.model_path(name), device=self.device)
                except FourierMasksError as exc:
                    self.message.emit("warning", f"model {name} of the run could not be loaded: {exc}")
        if new:
            self.add_models(new)
            if "N" in new:
                self.set_current_model("N")

    # --- models ------------------------------------------------------------------------------

    def add_models(self, models: dict[str, Classifier]) -> None:
        self.models.update(models)
        if self.current_model is None and models:
            self.current_model = next(iter(models))
        self.modelsChanged.emit()

    def set_current_model(self, name: str) -> None:
        if name in self.models and name != self.current_model:
            self.current_model = name
            self.modelsChanged.emit()

    def model(self, name: str | None = None) -> Classifier | None:
        return self.models.get(name or self.current_model or "")

    # --- selection ---------------------------------------------------------------------------

    def select_image(self, group: str, image_id: str) -> None:
        """Select an image everywhere; an adversarial image is selected as its clean original,
        whose views show it beside its counterpart (x_A)."""
        group = self.shown_group(group)
        self.selected = (group, image_id)
        self.selectionChanged.emit(group, image_id)

    def shown_group(self, group: str) -> str:
        """The group whose views show ``group``'s masks: the clean group an adversarial group
        pairs with, else ``group`` itself."""
        meta = self.group_meta(group) if self.store is not None and group else {}
        partner = meta.get("pairs_with")
        return partner if meta.get("inputs") == "adversarial" and partner else group

    # --- cached reads ------------------------------------------------------------------------

    def _cached(self, key: Any, read):
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    def _guarded(self, key: Any, part: str, read, fallback: Any = None):
        """A cached read of ``part`` of the run (a group, a table, a data file): when it is
        damaged, the damage is named once and ``fallback`` shown, and the rest stays usable."""
        if key not in self._cache:
            try:
                self._cache[key] = read()
            except FourierMasksError as exc:
                self.note_damage(part, str(exc))
                self._cache[key] = fallback
        return self._cache[key]

    def note_damage(self, part: str, text: str) -> None:
        """Record a damaged part of the open run (the run is then read-only) and say it once."""
        if part in self.damage:
            return
        self.damage[part] = text
        self.message.emit("warning", f"{text} (the rest of the run is usable)")
        self.damageChanged.emit()

    @property
    def read_only(self) -> bool:
        """A damaged run is only read: a job writing beside damaged files would mix good results
        with unreadable ones. The user repairs (or deletes) what is named, then reopens it."""
        return bool(self.damage)

    def check_writable(self) -> None:
        """Refuse (OutputError) to let a job write into the open run when it is damaged."""
        if self.store is not None and self.damage:
            parts = ", ".join(sorted(self.damage))
            raise OutputError(
                f"{self.store.root} is open read-only because part of it is damaged ({parts}); delete or restore "
                "what is named and open the run again, or open another run to compute more"
            )

    def contents(self) -> RunContents | None:
        if self.store is None:
            return None
        return self._guarded("contents", "the run's contents", lambda: discover(self.store))

    def image_groups(self) -> list[str]:
        if self.store is None:
            return []
        return [
            g
            for g in self.store.mask_groups()
            if self.group_meta(g).get("kind") == "image" and self.group_meta(g).get("inputs") != "adversarial"
        ]

    def group_meta(self, group: str) -> dict[str, Any]:
        """``group``'s meta.json; empty when it is damaged (the group is then not listed)."""
        return self._guarded(("meta", group), f"masks/{group}", lambda: self.store.mask_meta(group), {})

    def group_inputs(self, group: str) -> dict[str, np.ndarray] | None:
        """The images ``group``'s masks were learned on; None when the file is damaged."""
        return self._guarded(("inputs", group), f"masks/{group}", lambda: self.store.image_mask_inputs(group))

    def group_masks(self, group: str) -> StoredImageMasks | None:
        """``group``'s finished masks; None when none has finished (or the group is damaged)."""

        def read() -> StoredImageMasks | None:
            if not self.store.finished_ids(group):  # not damage: a new group, or shards set aside
                return None
            return self.store.load_image_masks(group)

        return self._guarded(("masks", group), f"masks/{group}", read)

    def adversarial_partner(self, group: str) -> str | None:
        """The adversarial group made from ``group``'s images, if any."""
        if self.store is None:
            return None
        for candidate in self.store.mask_groups():
            meta = self.group_meta(candidate)
            if meta.get("inputs") == "adversarial" and meta.get("pairs_with") == group:
                return candidate
        contents = self.contents()
        model = self.group_meta(group).get("model")
        if contents and model in contents.adversarial_image_masks and contents.clean_image_masks.get(model) == group:
            return contents.adversarial_image_masks[model]
        return None

    def predictions(self, group: str, image_id: str) -> dict[str, np.ndarray] | None:
        """The class probabilities the engine stored with an image's mask (``x``, ``M(x)``,
        ``Mc(x)``), or None (masks of older runs: the view then asks the model)."""
        stored = self.group_masks(group)
        if stored is None or image_id not in stored.ids or not all(k in stored.arrays for k in PROBABILITIES):
            return None
        k = stored.ids.index(image_id)
        return {view: stored.arrays[key][k] for view, key in zip(("x", "M(x)", "Mc(x)"), PROBABILITIES)}

    def mask_history(self, group: str, image_id: str) -> MaskHistory | None:
        """How an image's mask (or, for a set group, the set mask) converged; None if not kept."""
        if self.store is None:
            return None

        def read() -> MaskHistory | None:
            try:
                if self.group_meta(group).get("kind") != "image":
                    return set_mask_history(self.store, group)
                stored = self.group_masks(group)
                if stored is None or image_id not in stored.ids:
                    return None
                source = stored.sources[stored.ids.index(image_id)] if stored.sources else None
                return image_mask_history(self.store, group, image_id, source)
            except FourierMasksError as exc:
                log.warning("no convergence history for %s %s: %s", group, image_id, exc)
                return None

        key = ("history", group, image_id)
        if key not in self._cache:
            history = read()
            if history is None:
                return None  # not cached: the mask may still be learned
            self._cache[key] = history
        return self._cache[key]

    def set_masks(self) -> dict[str, np.ndarray]:
        contents = self.contents()
        if contents is None:
            return {}
        return self._cached(
            "set-masks",
            lambda: {
                model: mask
                for model, group in contents.dataset_masks.items()
                if (
                    mask := self._guarded(
                        ("set-mask", group), f"masks/{group}", lambda g=group: self.store.load_set_mask(g)
                    )
                )
                is not None
            },
        )

    def tables(self) -> dict[str, Table]:
        if self.store is None:
            return {}
        return self._cached(
            "tables",
            lambda: {
                name: table
                for name in self.store.table_names()
                if (table := self._guarded(("table", name), f"tables/{name}", lambda n=name: self.store.load_table(n)))
                is not None
            },
        )

    def embedding(self, group: str) -> dict[str, np.ndarray] | None:
        name = f"umap-{group_label(group)}"
        if self.store is None or not self.store.path(f"data/{name}.npz").exists():
            return None
        return self._guarded(("umap", group), f"data/{name}.npz", lambda: self.store.load_arrays(name))

    def class_names(self, group: str) -> list[str]:
        """The group's recorded class names; its model's when it recorded none, or only the
        ``class k`` placeholders (names given to the model later, or ImageNet's, then show)."""
        names = list(self.group_meta(group).get("class_names") or [])
        model = self.models.get(self.group_meta(group).get("model", ""))
        placeholders = names == [f"class {k}" for k in range(len(names))]
        if model is not None and (placeholders or not names):
            return list(model.info.labels())
        return names

    def image_tensor(self, group: str, image_id: str) -> torch.Tensor | None:
        inputs = self.group_inputs(group)
        if inputs is None:
            return None
        ids = inputs["ids"].tolist()
        if image_id not in ids:
            return None
        return torch.from_numpy(inputs["images"][ids.index(image_id)])

    def set_class_names(self, model_name: str, names: Sequence[str]) -> None:
        """Name the classes of a loaded model (one name per output) and keep the names with
        its checkpoint in the open run; raises ConfigError for a wrong count."""
        from fourier_masks.core.models import save_checkpoint

        model = self.models.get(model_name)
        if model is None:
            raise ConfigError(f"model {model_name!r} is not loaded")
        model.info = model.info.replace(class_names=tuple(names))  # validates the count
        if self.store is not None:
            save_checkpoint(model, self.store.model_path(model_name))
        self._cache.clear()
        self.modelsChanged.emit()
        self.contentsChanged.emit()
