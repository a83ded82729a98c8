"""The whole study, headless: the main job behind ``fourier-masks demo``.

Trains the five model variants (N, A, S, T, R), learns their dataset masks and class masks (on
one half of the validation set, so Table 1 can measure them on the other) and single-image
masks (clean and adversarial), then writes Tables 1–3 with their controls, per-band energies
and differences, seed stability (the noise floor of the energy shift), UMAP coordinates,
findings and figures into a results store.

Every step saves its results as soon as they exist and is skipped when they are already in
the store, so rerunning with the same output folder resumes an interrupted study without
recomputing anything finished.

Progress: the study's twelve steps are fixed, and every event it passes on carries where the
whole study stands (:class:`~fourier_masks.core.progress.StudyProgress`): each step's work is
costed before it starts, from the settings (:meth:`_Study.plan_costs`), and turned into seconds
at the rates measured as the study goes (:class:`~fourier_masks.core.progress.CostModel`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ..data.images import ImageSet
from ..errors import OutputError
from ..masks.config import SetMaskConfig
from ..masks.results import SetMaskResult
from ..models import open_model
from ..models.checkpoints import load_model
from ..models.classifier import Classifier, common_input
from ..progress import CancelToken, CostModel, OverallProgress, Progress, ProgressCallback
from ..runs.adversarial import adversarial_images_in_run, load_adversarial_images
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

# Seconds per unit of each kind of work relative to training's, as timed on the quick demo on a
# 2-core CPU (small CNN, 32 px); the ETA uses them only for kinds not yet timed in this run,
# scaled to the rates of those that were. One unit is a forward and backward pass of one
# image, or one optimiser step of one single-image mask.
RELATIVE_COST = {
    "training": 1.0,
    "adversarial-training": 0.72,  # PGD's passes, in eval mode and with no weight update
    "set-masks": 0.8,
    "class-masks": 1.35,  # the same epochs in batches a K-th the size
    "attack": 0.9,
    "image-masks": 0.68,
}
# The report's cost until it is timed, in seconds (its units), mostly the linear probe, UMAP
# and figures: per single-image mask group and per model (quick demo: 80 s for 3 and 5).
REPORT_SECONDS_PER_GROUP = 20.0
REPORT_SECONDS_PER_MODEL = 4.0


@dataclass
class StudyResult:
    store: ResultsStore
    tables: dict[str, Table] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0


class _Cancelled(Exception):
    """Internal: unwinds the study when the user cancels."""


class _Cost(NamedTuple):
    """A part of a step's work: ``items × per_item`` units of ``kind`` (see RELATIVE_COST);
    ``bound``: ``per_item`` is a cap the work may stop short of."""

    key: str
    kind: str
    items: float
    per_item: float = 1.0
    bound: bool = False
    jobs: int = 1


class _Step(NamedTuple):
    """A step of the study: what it runs, and what that costs (:meth:`_Study.plan_costs`)."""

    name: str
    run: Callable[[], None]
    cost: Callable[[], list[_Cost]] = lambda: []


class _Study:
    def __init__(self, config: StudyConfig, store: ResultsStore, device, on_progress, cancel, cluster=None) -> None:
        self.config = config
        self.cluster = cluster
        self.store = store
        self.device = torch.device(device)
        self.costs = CostModel(RELATIVE_COST, prior_rates={"report": 1.0})
        self.overall = OverallProgress([step.name for step in self.steps()], self.costs, on_progress)
        self.on_progress = self._relay if on_progress is not None else None
        self.cancel = cancel
        self.models: dict[str, Classifier] = {}
        self.adversarial: dict[str, torch.Tensor] = {}
        self.set_mask_epochs: list[int] = []
        self.result = StudyResult(store)

    # --- plumbing ----------------------------------------------------------------------------

    def _check_cancel(self, outcome_cancelled: bool = False) -> None:
        if outcome_cancelled or (self.cancel is not None and self.cancel.is_set()):
            raise _Cancelled

    @property
    def codes(self) -> list[str]:
        return [AUGMENTATION_CODES[a] for a in self.config.augmentations]

    def _relay(self, event: Progress) -> None:
        """An inner event, passed on with the study's progress; a mask queue's forecast of the
        steps a mask takes costs the masks still to come."""
        if event.stage == "image-masks" and "expected_steps" in event.payload and not event.left_is_bound:
            self.costs.revise("image-masks", float(event.payload["expected_steps"]))
        self.overall.relay(event)

    # --- steps -------------------------------------------------------------------------------

    def steps(self) -> list[_Step]:
        """The vanilla model and its masks come first, so the first masks appear (and can be
        watched converging) within seconds; its adversarial images come just before, so its
        clean and adversarial masks share one queue (a full batch to the last mask). Every
        step is independent of the order, and says what it costs (:meth:`plan_costs`)."""
        others = [code for code in self.codes if code != "N"]
        stability = [f"set/N-seed{seed}" for seed in self.config.stability_seeds]
        return [
            _Step("load data", self.load_data),
            _Step("train the vanilla model N", lambda: self.train_models(["N"]), lambda: self.training_costs(["N"])),
            _Step("dataset mask of N", lambda: self.learn_set_masks(["N"]), lambda: self.set_mask_costs(["set/N"])),
            _Step("adversarial images of N", lambda: self.make_adversarial(["N"]), lambda: self.attack_costs(["N"])),
            _Step(
                "single-image masks of N, clean and adversarial",
                lambda: self.learn_image_masks(["N"]),
                lambda: self.image_mask_costs(["N"]),
            ),
            _Step("train the other models", lambda: self.train_models(others), lambda: self.training_costs(others)),
            _Step(
                "dataset masks of the other models",
                lambda: self.learn_set_masks(others),
                lambda: self.set_mask_costs([f"set/{code}" for code in others]),
            ),
            _Step("seed stability", self.learn_stability_masks, lambda: self.set_mask_costs(stability)),
            _Step("class masks", self.learn_class_masks, self.class_mask_costs),
            _Step("adversarial images of A", lambda: self.make_adversarial(others), lambda: self.attack_costs(others)),
            _Step(
                "cross-model single-image masks",
                lambda: self.learn_image_masks(others),
                lambda: self.image_mask_costs(others),
            ),
            _Step("tables, energies, clusters and figures", self.write_report, self.report_costs),
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
        self.plan_costs()

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
            self.costs.begin(f"train {code}")
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
            self.costs.end(f"train {code}")
            self.models[code] = trained.model

    def _set_mask(self, group: str, code: str, config: SetMaskConfig, role: str = "dataset") -> None:
        if self.store.has_masks(group):
            return
        self.costs.begin(group)
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
        self.costs.end(group, self._set_masks_learned([result]))

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
        self.costs.begin("class/N")
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
        self.costs.end("class/N", self._set_masks_learned(list(results.values())))

    def make_adversarial(self, codes: list[str]) -> None:
        """PGD images of the subset for N and A (those of ``codes``), kept in the run."""
        for code in [code for code in ("N", "A") if code in codes and code in self.models]:
            self.costs.begin(f"attack {code}")
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
            self.costs.end(f"attack {code}")
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
            self.costs.begin(f"image masks {code}")
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
            steps = result.steps if result is not None and len(result) else None
            self.costs.end(f"image masks {code}", None if steps is None else float(steps.sum()))
            if steps is not None:  # the masks to come are costed at the steps these took
                self.costs.revise("image-masks", float(steps.mean()))

    # --- what the steps cost -----------------------------------------------------------------

    def plan_costs(self) -> None:
        """Cost every step's work before it starts, now that the data's size is known: in
        forward and backward passes of one image (a forward pass alone counts a third), or
        optimiser steps of one single-image mask. What the store already holds costs
        nothing. Set masks count their epoch cap and single-image masks their step cap (upper
        bounds) until some have stopped in this run."""
        for k, step in enumerate(self.steps()):
            for cost in step.cost():
                self.costs.add(cost.key, k, cost.kind, cost.items, cost.per_item, bound=cost.bound, jobs=cost.jobs)
        self.costs.mark()  # loading the data is no step's work

    def training_costs(self, codes: list[str]) -> list[_Cost]:
        """A pass per training image and epoch (adversarial training: one more per PGD step)
        and the validation's forward pass."""
        costs = []
        for augmentation, code in zip(self.config.augmentations, self.codes):
            if code not in codes or code in self.models or self.store.has_model(code):
                continue
            assert self.train is not None  # a study without given models has a training split
            adversarial = augmentation == "adversarial"
            passes = len(self.train) * (1 + self.config.train.pgd.steps if adversarial else 1) + len(self.val) / 3
            kind = "adversarial-training" if adversarial else "training"
            costs.append(_Cost(f"train {code}", kind, passes, self.config.train.epochs))
        return costs

    def _set_mask_epochs(self) -> tuple[float, bool]:
        """The epochs a set mask is expected to run: those of the set masks learned so far,
        else the cap (an upper bound)."""
        if self.set_mask_epochs:
            return sum(self.set_mask_epochs) / len(self.set_mask_epochs), False
        return float(self.config.set_mask.max_epochs), True

    def set_mask_costs(self, groups: list[str]) -> list[_Cost]:
        """A pass per learning image and epoch, and the masked accuracy's forward pass."""
        epochs, bound = self._set_mask_epochs()
        per_epoch = len(self.learning_half) * 4 / 3
        return [_Cost(g, "set-masks", per_epoch, epochs, bound) for g in groups if not self.store.has_masks(g)]

    def class_mask_costs(self) -> list[_Cost]:
        """The dataset mask's work, in one job per class."""
        if self.store.has_masks("class/N"):
            return []
        epochs, bound = self._set_mask_epochs()
        per_epoch = len(self.learning_half) * 4 / 3
        return [_Cost("class/N", "class-masks", per_epoch, epochs, bound, jobs=len(self.val.class_names))]

    def attack_costs(self, codes: list[str]) -> list[_Cost]:
        """A pass per image and attack step, for N and A (those of ``codes``)."""
        return [
            _Cost(f"attack {code}", "attack", len(self.subset) * self.config.attack.steps)
            for code in ("N", "A")
            if code in codes and code in self.codes and load_adversarial_images(self.store, code) is None
        ]

    def _image_group_names(self, code: str) -> list[str]:
        """The per-image groups of model ``code`` (as :meth:`_image_groups` will declare them)."""
        kinds = {"N": ["clean", "adversarial"], "A": ["clean"]}.get(code, []) if code in self.codes else []
        return [f"image/{code}-{kind}" for kind in kinds]

    def image_mask_costs(self, codes: list[str]) -> list[_Cost]:
        """A step per mask and optimiser step, the masks of each model in one queue."""
        ids = set(self.subset.ids)
        costs = []
        for code in codes:
            pending = sum(len(ids - self.store.finished_ids(g)) for g in self._image_group_names(code))
            if pending:
                max_steps = float(self.config.image_mask.max_steps)
                costs.append(_Cost(f"image masks {code}", "image-masks", pending, max_steps, bound=True))
        return costs

    def report_costs(self) -> list[_Cost]:
        """The report's cost in seconds, until it is timed (REPORT_SECONDS_PER_GROUP)."""
        groups = sum(len(self._image_group_names(code)) for code in self.codes)
        seconds = REPORT_SECONDS_PER_GROUP * groups + REPORT_SECONDS_PER_MODEL * len(self.codes)
        return [_Cost("report", "report", seconds)]

    def _set_masks_learned(self, results: list[SetMaskResult]) -> float:
        """Record set masks just learned (their epochs cost the ones to come); their units."""
        self.set_mask_epochs += [r.epochs for r in results]
        epochs, bound = self._set_mask_epochs()
        self.costs.revise("set-masks", epochs, bound)
        self.costs.revise("class-masks", epochs, bound)
        return sum(r.epochs * r.num_images * 4 / 3 for r in results)

    # --- analysis ----------------------------------------------------------------------------

    def write_report(self) -> None:
        self.costs.begin("report")
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
        self.costs.end("report")
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
    ``cluster`` learns the per-image masks on Ray workers (:class:`~fourier_masks.core.runs.RayExecutor`).

    ``on_progress`` receives a ``study`` event as each of the fixed steps starts (``done``:
    the steps finished) and every inner event of the steps, each with the whole study's
    fraction and ETA attached (``Progress.study``); the last event is ``study`` ``done``."""
    started = time.perf_counter()
    study = _Study(config, store, device, on_progress, cancel, cluster)
    try:
        with _cluster_connection(cluster):
            for k, step in enumerate(study.steps()):
                study.overall.step(k)
                step.run()
                study.costs.end_step(k)
                study._check_cancel()
    except _Cancelled:
        study.result.cancelled = True
    study.result.seconds = time.perf_counter() - started
    store.update_manifest(
        status="cancelled" if study.result.cancelled else "complete", seconds=round(study.result.seconds, 1)
    )
    if not study.result.cancelled:
        study.overall.finish()
    return study.result
