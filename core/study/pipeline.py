"""The whole study, headless: the main job behind ``fourier-masks demo``.

Trains the five model variants (N, A, S, T, R), learns their dataset masks, class masks and
single-image masks (clean and adversarial), then writes Tables 1–3, per-band energies and
differences, seed stability, UMAP coordinates and figures into a results store.

Every step saves its results as soon as they exist and is skipped when they are already in
the store, so rerunning with the same output folder resumes an interrupted study without
recomputing anything finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..attacks.adversarial import attack_images
from ..data.datasets import load_dataset
from ..data.images import DataSplits, ImageSet
from ..errors import OutputError
from ..masks.config import SetMaskConfig
from ..masks.set_masks import learn_class_masks, learn_set_mask
from ..models.checkpoints import load_model, save_checkpoint
from ..models.classifier import Classifier
from ..progress import CancelToken, Progress, ProgressCallback
from ..runs.executors import run_mask_units
from ..runs.groups import plan_image_masks, save_set_mask_result
from ..runs.store import ResultsStore
from ..tables import Table
from ..training.train import AUGMENTATION_CODES, history_table, train_model
from .config import StudyConfig
from .report import write_report

log = logging.getLogger(__name__)


@dataclass
class StudyResult:
    store: ResultsStore
    tables: dict[str, Table] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0


class _Cancelled(Exception):
    """Internal: unwinds the study when the user cancels."""


class _Study:
    def __init__(self, config: StudyConfig, store: ResultsStore, device, on_progress, cancel, cluster=None) -> None:
        self.config = config
        self.cluster = cluster
        self.store = store
        self.device = torch.device(device)
        self.on_progress = on_progress
        self.cancel = cancel
        self.models: dict[str, Classifier] = {}
        self.set_masks: dict[str, np.ndarray] = {}
        self.adversarial: dict[str, torch.Tensor] = {}
        self.result = StudyResult(store)

    # --- plumbing ----------------------------------------------------------------------------

    def _check_cancel(self, outcome_cancelled: bool = False) -> None:
        if outcome_cancelled or (self.cancel is not None and self.cancel.is_set()):
            raise _Cancelled

    def _save_table(self, table: Table) -> None:
        self.store.save_table(table)
        self.result.tables[table.name] = table

    @property
    def codes(self) -> list[str]:
        return [AUGMENTATION_CODES[a] for a in self.config.augmentations]

    # --- steps -------------------------------------------------------------------------------

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        """The vanilla model and its masks come first, so the first masks appear (and can be
        watched converging) within seconds; its adversarial images come just before, so its
        clean and adversarial masks share one queue (a full batch to the last mask). Every
        step is independent of the order."""
        others = [code for code in self.codes if code != "N"]
        return [
            ("load data", self.load_data),
            ("train the vanilla model N", lambda: self.train_models(["N"])),
            ("dataset mask of N", lambda: self.learn_set_masks(["N"])),
            ("adversarial images of N", lambda: self.make_adversarial(["N"])),
            ("single-image masks of N, clean and adversarial", lambda: self.learn_image_masks(["N"])),
            ("train the other models", lambda: self.train_models(others)),
            ("dataset masks of the other models", lambda: self.learn_set_masks(others)),
            ("seed stability", self.learn_stability_masks),
            ("class masks", self.learn_class_masks),
            ("adversarial images of A", lambda: self.make_adversarial(others)),
            ("cross-model single-image masks", lambda: self.learn_image_masks(others)),
            ("tables, energies, clusters and figures", self.write_report),
        ]

    def load_data(self) -> None:
        c = self.config
        previous = self.store.read_json("run.json").get("study")
        if previous is not None and previous != json.loads(json.dumps(c.to_dict())):
            raise OutputError(
                f"{self.store.root} holds a study with other settings; resume it with the same "
                "settings or choose an empty output folder"
            )
        self.data: DataSplits = load_dataset(
            c.dataset,
            size=c.image_size,
            channels=c.channels,
            seed=c.seed,
            train_per_class=c.train_per_class,
            val_per_class=c.val_per_class,
        )
        self.subset: ImageSet = (
            self.data.val.balanced_subset(c.images_per_class, seed=c.seed) if c.images_per_class else self.data.val
        )
        self.store.update_manifest(
            study=c.to_dict(),
            data={
                "spec": c.dataset,
                "size": c.image_size,
                "channels": c.channels,
                "seed": c.seed,
                "train_per_class": c.train_per_class,
                "val_per_class": c.val_per_class,
            },
            classes=list(self.data.train.class_names),
            train_images=len(self.data.train),
            val_images=len(self.data.val),
            single_image_set=len(self.subset),
        )

    def train_models(self, codes: list[str]) -> None:
        for augmentation, code in zip(self.config.augmentations, self.codes):
            if code not in codes:
                continue
            if self.store.has_model(code):
                self.models[code] = load_model(self.store.model_path(code), device=self.device)
                continue
            config = self.config.train.replace(arch=self.config.arch, augmentation=augmentation, seed=self.config.seed)
            trained = train_model(
                self.data.train,
                self.data.val,
                config=config,
                name=code,
                device=self.device,
                on_progress=self.on_progress,
                cancel=self.cancel,
            )
            self._check_cancel(trained.cancelled)
            self._save_table(history_table(code, augmentation, trained.history))
            save_checkpoint(trained.model, self.store.model_path(code))
            self.models[code] = trained.model

    def _set_mask(self, group: str, code: str, config: SetMaskConfig, role: str = "dataset") -> np.ndarray:
        if self.store.has_masks(group):
            return self.store.load_set_mask(group)
        result = learn_set_mask(
            self.models[code],
            self.data.val.images,
            self.data.val.labels,
            config=config,
            device=self.device,
            on_progress=self.on_progress,
            cancel=self.cancel,
            stage=f"set-mask {code}",
        )
        self._check_cancel(result.cancelled)
        save_set_mask_result(
            self.store, group, result, model_name=code, class_names=self.data.val.class_names, role=role
        )
        return result.mask

    def learn_set_masks(self, codes: list[str]) -> None:
        for code in codes:
            self.set_masks[code] = self._set_mask(f"set/{code}", code, self.config.set_mask)

    def learn_stability_masks(self) -> None:
        """Extra dataset masks of model N with other data-order seeds (compared in the report)."""
        for seed in self.config.stability_seeds:
            self._set_mask(f"set/N-seed{seed}", "N", self.config.set_mask.replace(seed=seed), role="stability")

    def learn_class_masks(self) -> None:
        """Class masks of model N. Each class holds 1/K of the set, so the batch is divided by
        K to give a class mask as many optimiser steps per epoch as the dataset mask gets."""
        group = "class/N"
        if self.store.has_masks(group):
            self.class_masks = self.store.load_class_masks(group)
            return
        config = self.config.set_mask
        config = config.replace(batch_size=max(8, config.batch_size // self.data.val.num_classes))
        results = learn_class_masks(
            self.models["N"],
            self.data.val.images,
            self.data.val.labels,
            config=config,
            device=self.device,
            on_progress=self.on_progress,
            cancel=self.cancel,
        )
        self._check_cancel(any(r.cancelled for r in results.values()))
        self.class_masks = {k: r.mask for k, r in results.items()}
        self.store.save_class_masks(
            group,
            self.class_masks,
            {
                "model": "N",
                "config": config.to_dict(),
                "class_names": list(self.data.val.class_names),
                "masked_accuracy": {k: r.masked_accuracy for k, r in results.items()},
                "kept_fraction": {k: r.kept_fraction for k, r in results.items()},
                "converged": {k: r.converged for k, r in results.items()},
                "epoch_kept": {k: r.epoch_kept for k, r in results.items()},
            },
        )

    def make_adversarial(self, codes: list[str]) -> None:
        """PGD images of the subset for N and A (those of ``codes``), kept in the run."""
        for code in [code for code in ("N", "A") if code in codes and code in self.models]:
            name = f"adversarial-{code}"
            if self.store.path(f"data/{name}.npz").exists():
                stored = self.store.load_arrays(name)
                self.adversarial[code] = torch.from_numpy(stored["images"])
                continue
            adversarial = attack_images(
                self.models[code],
                self.subset.images,
                self.subset.labels,
                config=self.config.attack,
                device=self.device,
                on_progress=self.on_progress,
                cancel=self.cancel,
            )
            self._check_cancel()
            self.store.save_arrays(
                name,
                images=adversarial.numpy(),
                ids=np.array(self.subset.ids, dtype=str),
                eps_pixel=np.float64(self.config.attack.eps),
            )
            self.adversarial[code] = adversarial

    def _image_groups(self) -> list[tuple[str, str, ImageSet, str]]:
        """(group, model, images, kind) for every per-image mask job."""
        groups = [("image/N-clean", "N", self.subset, "clean")]
        if "N" in self.adversarial:
            adversarial = dataclasses.replace(self.subset, images=self.adversarial["N"])
            groups.append(("image/N-adversarial", "N", adversarial, "adversarial"))
        if "A" in self.models:
            groups.append(("image/A-clean", "A", self.subset, "clean"))
        return groups

    def learn_image_masks(self, codes: list[str]) -> None:
        """The per-image groups of the models in ``codes``, one queue per model."""
        for code in codes:
            units = []
            for group, model_code, images, kind in self._image_groups():
                if model_code != code:
                    continue
                extra: dict[str, Any] = (
                    {"attack": self.config.attack.to_dict(), "pairs_with": "image/N-clean"}
                    if kind == "adversarial"
                    else {}
                )
                units += plan_image_masks(
                    self.store,
                    group,
                    images,
                    model_name=code,
                    config=self.config.image_mask,
                    inputs=kind,
                    dataset=self.data.val.name,
                    **extra,
                )
            result = run_mask_units(
                self.store,
                units,
                self.models[code],
                device=self.device,
                on_progress=self.on_progress,
                cancel=self.cancel,
                cluster=self.cluster,
            )
            self._check_cancel(result is not None and result.cancelled)

    # --- analysis ----------------------------------------------------------------------------

    def write_report(self) -> None:
        report = write_report(
            self.store,
            val=self.data.val,
            bands=self.config.bands,
            reference="N",
            seed=self.config.seed,
            examples=self.config.examples,
            device=self.device,
            on_progress=self.on_progress,
            cancel=self.cancel,
        )
        self._check_cancel(report.cancelled)
        self.result.tables.update(report.tables)
        self.result.figures.extend(report.figures)


def _cluster_connection(cluster: str | None):
    """One connection to the cluster for the whole study, not one per mask group."""
    if cluster is None:
        return contextlib.nullcontext()
    from ..runs.executors import connected

    return connected(cluster)


def run_study(
    config: StudyConfig,
    store: ResultsStore,
    *,
    device: torch.device | str = "cpu",
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    cluster: str | None = None,
) -> StudyResult:
    """Run (or resume) the study into ``store``; returns the tables and figures made.
    ``cluster`` learns the per-image masks on Ray workers (:mod:`core.cluster`)."""
    started = time.perf_counter()
    study = _Study(config, store, device, on_progress, cancel, cluster)
    steps = study.steps()
    try:
        with _cluster_connection(cluster):
            for k, (name, step) in enumerate(steps):
                if on_progress is not None:
                    on_progress(Progress("study", k, len(steps), name, time.perf_counter() - started))
                step()
                study._check_cancel()
    except _Cancelled:
        study.result.cancelled = True
    study.result.seconds = time.perf_counter() - started
    store.update_manifest(
        status="cancelled" if study.result.cancelled else "complete", seconds=round(study.result.seconds, 1)
    )
    if on_progress is not None and not study.result.cancelled:
        on_progress(Progress("study", len(steps), len(steps), "done", study.result.seconds))
    return study.result
