"""The whole study, headless: the main job behind ``fourier-masks demo``.

Trains the five model variants (N, A, S, T, R), learns their dataset masks and class masks (on
one half of the validation set, so Table 1 can measure them on the other) and single-image
masks (clean and adversarial), then writes Tables 1–3 with their controls, per-band energies
and differences, seed stability (the noise floor of the energy shift), UMAP coordinates,
findings and figures into a results store.

Every step saves its results as soon as they exist and is skipped when they are already in
the store, so rerunning with the same output folder resumes an interrupted study without
recomputing anything finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.images import ImageSet
from ..errors import OutputError
from ..masks.config import SetMaskConfig
from ..models import open_model
from ..models.checkpoints import load_model
from ..models.classifier import Classifier, common_input
from ..progress import CancelToken, Progress, ProgressCallback
from ..runs.adversarial import adversarial_images_in_run
from ..runs.classes import evaluation_request, fit_classes, say_clean_accuracy
from ..runs.executors import run_mask_units
from ..runs.groups import plan_image_masks
from ..runs.manifest import DataRecord
from ..runs.store import ResultsStore
from ..runs.workflows import keep_model, learn_class_masks_into_run, learn_set_mask_into_run, train_into_run
from ..tables import Table
from ..training.train import AUGMENTATION_CODES
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
        self.adversarial: dict[str, torch.Tensor] = {}
        self.result = StudyResult(store)

    # --- plumbing ----------------------------------------------------------------------------

    def _check_cancel(self, outcome_cancelled: bool = False) -> None:
        if outcome_cancelled or (self.cancel is not None and self.cancel.is_set()):
            raise _Cancelled

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
        previous = self.store.manifest.study
        if previous is not None and not c.same_as_recorded(previous):
            raise OutputError(
                f"{self.store.root} holds a study with other settings; resume it with the same "
                "settings or choose an empty output folder"
            )
        if c.given_models:
            self.open_given_models()
            infos = {code: model.info for code, model in self.models.items()}
            preparation, channels = common_input(infos)
            request = evaluation_request(c.data_record().request(), infos)
            record = DataRecord.of(request, preparation, channels)
            self.train: ImageSet | None = None
            self.val: ImageSet = fit_classes(request.validation(preparation, channels), infos)
            for code, model in self.models.items():
                say_clean_accuracy(model, code, self.val)
        else:
            record = c.data_record()
            splits = record.request().load(record.preparation, record.channels)
            self.train, self.val = splits.train, splits.val
        # Set masks are learned on one half of the validation set; Table 1 measures them on the other.
        self.learning_half, _ = self.val.halves(seed=c.seed)
        self.subset: ImageSet = (
            self.val.balanced_subset(c.images_per_class, seed=c.seed) if c.images_per_class else self.val
        )
        self.store.update_manifest(
            study=c.to_dict(),
            data=record,
            classes=tuple(self.val.class_names),
            train_images=len(self.train) if self.train is not None else 0,
            val_images=len(self.val),
            single_image_set=len(self.subset),
        )

    def open_given_models(self) -> None:
        """The study's given models, kept in the run under their codes (a resumed study reads
        the run's copies, so it goes on with the very models it started with)."""
        for code, spec in self.config.given_models:
            if self.store.has_model(code):
                self.models[code] = load_model(self.store.model_path(code), device=self.device)
                continue
            model = open_model(spec, device=self.device)
            source = Path(spec) if Path(spec).is_file() else None
            keep_model(self.store, code, model, source)
            self.models[code] = model

    def train_models(self, codes: list[str]) -> None:
        for augmentation, code in zip(self.config.augmentations, self.codes):
            if code not in codes or code in self.models:  # given models are open already
                continue
            if self.store.has_model(code):
                self.models[code] = load_model(self.store.model_path(code), device=self.device)
                continue
            config = self.config.train.replace(arch=self.config.arch, augmentation=augmentation, seed=self.config.seed)
            assert self.train is not None  # a study without given models has a training split
            trained = train_into_run(
                self.store,
                code,
                self.train,
                self.val,
                config=config,
                device=self.device,
                on_progress=self.on_progress,
                cancel=self.cancel,
            )
            self._check_cancel(trained.cancelled)
            self.models[code] = trained.model

    def _set_mask(self, group: str, code: str, config: SetMaskConfig, role: str = "dataset") -> None:
        if self.store.has_masks(group):
            return
        result = learn_set_mask_into_run(
            self.store,
            group,
            code,
            self.models[code],
            self.learning_half,
            config=config,
            role=role,
            device=self.device,
            on_progress=self.on_progress,
            cancel=self.cancel,
        )
        self._check_cancel(result.cancelled)

    def learn_set_masks(self, codes: list[str]) -> None:
        for code in codes:
            self._set_mask(f"set/{code}", code, self.config.set_mask)

    def learn_stability_masks(self) -> None:
        """Extra dataset masks of model N with other data-order seeds (compared in the report)."""
        for seed in self.config.stability_seeds:
            self._set_mask(f"set/N-seed{seed}", "N", self.config.set_mask.replace(seed=seed), role="stability")

    def learn_class_masks(self) -> None:
        """Class masks of model N on the dataset mask's half of the validation set, with its
        settings (each class's batch is a K-th of the set's:
        :func:`~fourier_masks.core.masks.learn_class_masks`)."""
        if self.store.has_masks("class/N"):
            return
        results = learn_class_masks_into_run(
            self.store,
            "class/N",
            "N",
            self.models["N"],
            self.learning_half,
            config=self.config.set_mask,
            device=self.device,
            on_progress=self.on_progress,
            cancel=self.cancel,
        )
        self._check_cancel(any(r.cancelled for r in results.values()))

    def make_adversarial(self, codes: list[str]) -> None:
        """PGD images of the subset for N and A (those of ``codes``), kept in the run."""
        for code in [code for code in ("N", "A") if code in codes and code in self.models]:
            adversarial = adversarial_images_in_run(
                self.store,
                code,
                self.models[code],
                self.subset,
                attack=self.config.attack,
                device=self.device,
                on_progress=self.on_progress,
                cancel=self.cancel,
            )
            self._check_cancel(adversarial is None)
            assert adversarial is not None
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
                    dataset=self.val.name,
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
            val=self.val,
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
    ``cluster`` learns the per-image masks on Ray workers (:class:`~fourier_masks.core.runs.RayExecutor`)."""
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
