"""Starting the app's jobs and acting on their ends: :class:`JobController`."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from fourier_masks.core.beyond import (
    run_adversarial_maps,
    run_corruptions,
    run_cutoff_sweep,
    run_heat_map,
    run_layer_spectra,
    run_profile,
    run_robustness,
    run_sensitivity,
)
from fourier_masks.core.errors import FourierMasksError
from fourier_masks.core.masks import ImageMaskConfig
from fourier_masks.core.runs import (
    ImageMaskJob,
    LoadedModels,
    ResultsStore,
    attack_group_into_run,
    learn_file_masks_into_run,
    load_models_into_run,
    train_variants_into_run,
    unused_group_name,
)
from fourier_masks.core.study import ReportResult, StudyConfig, compare_models, run_study, write_report

from .panels.convergence import ConvergencePanel
from .requests import (
    AdversarialMapsRequest,
    AnalysisRequest,
    AttackRequest,
    CompareRequest,
    CorruptionsRequest,
    CutoffSweepRequest,
    HeatMapRequest,
    LayerSpectraRequest,
    ModelDetails,
    ProfileRequest,
    SensitivityRequest,
    TrainRequest,
)
from .widgets import JobBar
from .workbench import Workbench
from .workers import JobRunner

__all__ = ["JobController"]


class JobController(QObject):
    """Starts every job of the app on its one :class:`JobRunner` and acts on how it ends.

    Each job method checks what its job needs, starts it and keeps, under the job's name, a
    continuation for its result (add the models, refresh the workbench, select what is new).
    ``image_config`` and ``cluster`` are the settings these jobs use; the window edits them.

    The window's dialogs ask, then call these methods; the controller opens no dialog and
    holds no reference to the window. What it needs from the window it asks through signals,
    so that the window alone decides how to show it: ``message`` for the message bar,
    ``viewRequested`` for a view to bring to the front, ``detailsNeeded`` for a model file
    that does not say enough about itself (the window asks the user and calls
    :meth:`load_with_details`), ``runOpened`` for the recent runs. The job bar and the
    convergence panel exist only to follow the running job, so it drives them itself, in the
    order the job's news arrives.

    All of this happens on the GUI thread: the controller and its runner are created there,
    the runner hands the worker thread's news over as queued signals, and the signals here
    are emitted and received on the GUI thread, so they are plain direct calls (a dialog
    opened for ``detailsNeeded`` is answered before the runner's slot returns). Jobs receive
    and return engine objects only, never a Qt one.
    """

    message = Signal(str, str)  # level ("info", "warning", "error"), text
    viewRequested = Signal(str)  # the panel (and dock) to bring to the front
    detailsNeeded = Signal(object, str)  # a model file (Path) and what it lacks: "arch" or "shapes"
    runOpened = Signal(object)  # the run folder (Path) a study writes into
    pageReady = Signal(object)  # report.html (Path), just written: the window opens it in a browser
    modelNeeded = Signal(int)  # this many images wait for a model (loaded or trained next)

    def __init__(
        self,
        workbench: Workbench,
        job_bar: JobBar,
        convergence: ConvergencePanel,
        cluster: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.workbench = workbench
        self.job_bar = job_bar
        self.convergence = convergence
        # Sync with the engine every 10 steps: livelier curves; the cost on a CPU is negligible.
        self.image_config = ImageMaskConfig(check_every=10)
        self.cluster = cluster  # where jobs learn per-image masks: this machine (None) or a Ray cluster
        self.runner = JobRunner(self)
        self._continuations: dict[str, Callable[[Any], None]] = {}
        self._kept: dict[str, str | Callable[[Any], str]] = {}
        self._pending_images: list[Path] = []  # dropped with checkpoints: their masks follow the loading
        self._masks_seen, self._last_refresh = 0, 0.0  # live refresh of a running mask job
        self.runner.started.connect(self._on_runner_started)
        self.runner.progress.connect(self._on_runner_progress)
        self.runner.finished.connect(self._on_runner_finished)
        self.runner.cancelled.connect(self._on_runner_cancelled)
        self.runner.failed.connect(self._on_runner_failed)
        job_bar.cancelRequested.connect(self.runner.cancel)

    def _start(
        self,
        name: str,
        function,
        then: Callable[[Any], None] | None = None,
        kept: str | Callable[[Any], str] = "the results it had finished are kept in the run",
        **kwargs,
    ) -> None:
        """Run ``function`` as job ``name``; ``then`` acts on its result, ``kept`` says (from
        the partial result, when a callable) what a cancel leaves in the run. A job that
        would write into a damaged run is refused (see ``Workbench.read_only``)."""
        if kwargs.get("store") is not None and kwargs["store"] is self.workbench.store:
            try:
                self.workbench.check_writable()
            except FourierMasksError as exc:
                self.message.emit("error", str(exc))
                return
        if then is not None:
            self._continuations[name] = then
        self._kept[name] = kept
        self.convergence.reset()
        self.runner.start(name, function, **kwargs)

    # --- studies -----------------------------------------------------------------------------

    def start_study(self, config: StudyConfig, folder: Path, name: str) -> None:
        """Run (or resume, when ``folder`` holds the same study) a study into ``folder``."""
        try:
            store = ResultsStore(folder, overwrite=True)
            self.workbench.open_run(folder)
        except FourierMasksError as exc:
            self.message.emit("error", str(exc))
            return
        self.runOpened.emit(folder)
        self.viewRequested.emit("convergence")
        self._start(
            name,
            run_study,
            then=lambda result: self._after_study(folder, name),
            kept="the steps it finished are kept in the run; start the same study again to resume it",
            config=config,
            store=store,
            device=self.workbench.device,
            cluster=self.cluster,
        )

    def _after_study(self, folder: Path, name: str) -> None:
        self.workbench.open_run(folder)
        self.message.emit("info", f"{name} finished: results in {folder}")

    # --- models ------------------------------------------------------------------------------

    def load_checkpoints(self, paths: Sequence[Path | str], images: Sequence[Path] = ()) -> None:
        """Load models (files, library folders or names such as ``timm:resnet50.a1_in1k``),
        then learn the masks of the ``images`` dropped with them."""
        if images:
            self._pending_images = list(images)
        self._load(paths)

    def load_with_details(self, path: Path, details: ModelDetails) -> None:
        """Load a model file with what the user said about it (see ``detailsNeeded``); the
        images dropped with it still follow."""
        self._load([path], details)

    def _load(self, paths: Sequence[Path | str], details: ModelDetails | None = None) -> None:
        """``details`` (architecture, shapes, normalisation) apply to all ``paths``."""
        store = self.workbench.ensure_store()
        self._start(
            "load checkpoints",
            load_models_into_run,
            then=self._after_load,
            kept="the models loaded before the cancel are kept",
            paths=paths,
            store=store,
            taken=set(self.workbench.models),
            device=self.workbench.device,
            details=details.load_kwargs() if details is not None else None,
        )

    def _after_load(self, result: LoadedModels) -> None:
        self.workbench.add_models(result.models)
        if result.problems:
            self.message.emit("error", " · ".join(result.problems))
        elif result.models:
            self.message.emit("info", f"loaded {', '.join(result.models)}")
        if result.needs_details:
            path, needs = next(iter(result.needs_details.items()))
            self.detailsNeeded.emit(Path(path), needs)
            return
        images, self._pending_images = self._pending_images, []
        if images:
            self.learn_image_masks(images)

    def train(self, request: TrainRequest) -> None:
        store = self.workbench.ensure_store()
        self._start(
            "train models",
            train_variants_into_run,
            then=self._after_train,
            kept="the models trained before the cancel are kept; the one in training is not",
            store=store,
            data=request.data,
            size=request.size,
            channels=request.channels,
            configs=list(request.configs),
            device=self.workbench.device,
        )

    def _after_train(self, trained) -> None:
        self.workbench.add_models(trained)
        self.workbench.refresh()
        self.message.emit("info", f"trained {', '.join(trained) or 'nothing'}")
        images, self._pending_images = self._pending_images, []
        if images and trained:
            self.learn_image_masks(images)

    # --- masks -------------------------------------------------------------------------------

    def learn_image_masks(self, paths: list[Path]) -> None:
        name = self.workbench.current_model
        model = self.workbench.model()
        if model is None:
            self._pending_images = list(paths)
            self.message.emit(
                "warning",
                f"{len(paths)} image file(s) or folder(s) wait for a model: load or train one and their masks follow",
            )
            self.modelNeeded.emit(len(paths))
            return
        store = self.workbench.ensure_store()
        self.viewRequested.emit("convergence")
        self._start(
            "image masks",
            learn_file_masks_into_run,
            then=self._after_image_masks,
            kept=self._masks_kept,
            store=store,
            group=unused_group_name(store, f"image/{name}-drop"),
            model_name=name,
            model=model,
            paths=paths,
            config=self.image_config,
            device=self.workbench.device,
            cluster=self.cluster,
        )

    @staticmethod
    def _masks_kept(result: ImageMaskJob | None) -> str:
        if result is None:
            return "the masks finished before the cancel are kept in the run"
        return f"{result.done} of {result.total} masks were finished and are kept in the run ({result.group})"

    def _after_image_masks(self, result: ImageMaskJob) -> None:
        self.workbench.refresh()
        text = f"{result.group}: {result.done} of {result.total} masks learned"
        if result.problems:
            self.message.emit(
                "warning", f"{text}; skipped {len(result.problems)} file(s): " + " · ".join(result.problems)
            )
        else:
            self.message.emit("info", text)
        self._select_first(result.group)

    def _select_first(self, group: str) -> None:
        stored = self.workbench.group_masks(group) if group else None
        if stored is not None and len(stored):
            self.viewRequested.emit("images")
            self.workbench.select_image(group, stored.ids[0])

    def attack(self, group: str, request: AttackRequest) -> None:
        model_name = self.workbench.group_meta(group).get("model")
        model = self.workbench.models.get(model_name)
        if model is None:
            self.message.emit("error", f"model {model_name} of {group} is not loaded")
            return
        adversarial_group = f"{group}-adv"
        if adversarial_group in self.workbench.store.mask_groups():
            adversarial_group = unused_group_name(self.workbench.store, f"{group}-adv")
        self._start(
            "adversarial masks",
            attack_group_into_run,
            then=lambda result: self._after_attack(group, result),
            kept=self._masks_kept,
            store=self.workbench.store,
            model_name=model_name,
            model=model,
            clean_group=group,
            group=adversarial_group,
            attack=request.attack,
            config=request.masks,
            device=self.workbench.device,
            cluster=self.cluster,
        )

    def _after_attack(self, clean_group: str, result: ImageMaskJob) -> None:
        """The attacked images beside their counterparts: the clean group stays on show, at
        the image that was selected (its x_A row is now filled)."""
        selected = self.workbench.selected
        self._after_image_masks(result)
        if selected is not None and selected[0] == clean_group:
            self.workbench.select_image(*selected)

    def compare(self, request: CompareRequest) -> None:
        if not self.workbench.models:
            self.message.emit("warning", "load the models to compare first")
            return
        store = self.workbench.ensure_store()
        self.viewRequested.emit("convergence")
        self._start(
            "compare models",
            compare_models,
            then=self._after_compare,
            kept="the masks learned before the cancel are kept; the comparison tables are not written",
            store=store,
            models=dict(self.workbench.models),
            data=request.data,
            set_config=request.set_masks,
            images_per_class=request.images_per_class,
            image_config=request.image_masks,
            device=self.workbench.device,
            cluster=self.cluster,
        )

    def _after_compare(self, result) -> None:
        self.workbench.refresh()
        self.viewRequested.emit("compare")
        self.message.emit("info", "comparison ready: masks, differences, energies and tables")

    # --- analyses beyond the main paper -------------------------------------------------------

    def adversarial_maps(self, request: AdversarialMapsRequest) -> None:
        name, model = self.workbench.current_model, self.workbench.model()
        self.viewRequested.emit("convergence")
        self._start(
            "adversarial maps",
            run_adversarial_maps,
            then=lambda r: self._after_analysis("adversarial maps"),
            kept="nothing was saved: the maps are compared and saved once every one is learned",
            store=self.workbench.ensure_store(),
            model_name=name,
            model=model,
            data=request.data,
            config=request.config,
            device=self.workbench.device,
            cluster=self.cluster,
        )

    def heat_map(self, model_name: str, request: HeatMapRequest) -> None:
        self._start(
            "heat map",
            run_heat_map,
            then=lambda r: self._after_analysis("heat map"),
            kept=lambda r: (
                "nothing was saved: a heat map is saved once every frequency is evaluated"
                + (f" ({r.frequencies_done} of {r.frequencies_total} were)" if r is not None else "")
            ),
            store=self.workbench.ensure_store(),
            model_name=model_name,
            model=self.workbench.models[model_name],
            data=request.data,
            eps=request.eps,
        )

    def robustness(self, request: AnalysisRequest) -> None:
        self._start(
            "robustness",
            run_robustness,
            then=lambda r: self._after_analysis("robustness"),
            kept="nothing was saved: the table is saved once every model is measured",
            store=self.workbench.ensure_store(),
            models=dict(self.workbench.models),
            data=request.data,
        )

    def cutoff_sweep(self, request: CutoffSweepRequest) -> None:
        self._start(
            "cutoff sweep",
            run_cutoff_sweep,
            then=lambda r: self._after_analysis("cutoff sweep"),
            kept="nothing was saved: the sweeps are saved once every model is swept",
            store=self.workbench.ensure_store(),
            models=dict(self.workbench.models),
            data=request.data,
            radii=request.radii,
            eps=request.eps,
            attack=request.attack,
        )

    def sensitivity(self, model_name: str, request: SensitivityRequest) -> None:
        self._start(
            "gradient spectrum",
            run_sensitivity,
            then=lambda r: self._after_analysis("gradient spectrum"),
            kept="nothing was saved: the spectrum is saved once every image's gradient is in",
            store=self.workbench.ensure_store(),
            model_name=model_name,
            model=self.workbench.models[model_name],
            data=request.data,
        )

    def layer_spectra(self, model_name: str, request: LayerSpectraRequest) -> None:
        self._start(
            "layer spectra",
            run_layer_spectra,
            then=lambda r: self._after_analysis("layer spectra"),
            kept="nothing was saved: the spectra are saved once every image went through the model",
            store=self.workbench.ensure_store(),
            model_name=model_name,
            model=self.workbench.models[model_name],
            data=request.data,
            layers=list(request.layers) or None,
        )

    def corruptions(self, request: CorruptionsRequest) -> None:
        self._start(
            "corruptions",
            run_corruptions,
            then=lambda r: self._after_analysis("corruptions"),
            kept="nothing was saved: the tables are saved once every corruption is measured",
            store=self.workbench.ensure_store(),
            models=dict(self.workbench.models),
            data=request.data,
            corruptions=request.corruptions,
            severities=request.severities,
            reference=request.reference,
            seed=request.seed,
        )

    def profile(self, request: ProfileRequest) -> None:
        missing = [name for name in request.models if name not in self.workbench.models]
        if missing or not request.models:
            self.message.emit("warning", f"load the models to profile first ({', '.join(missing) or 'none chosen'})")
            return
        self._start(
            "profile",
            run_profile,
            then=lambda r: self._after_analysis("profile"),
            kept="the models profiled before the cancel are kept in the run (a new profile resumes from them)",
            store=self.workbench.ensure_store(),
            models={name: self.workbench.models[name] for name in request.models},
            data=request.data,
            config=request.config,
            reference=request.reference,
            cluster=self.cluster,
        )

    def _after_analysis(self, name: str) -> None:
        self.workbench.refresh()
        self.viewRequested.emit("analyses")
        self.message.emit("info", f"{name} ready in the Analyses view")

    # --- reports -----------------------------------------------------------------------------

    def compute_report(self) -> None:
        if self.workbench.store is None:
            self.message.emit("warning", "open a run or learn some masks first")
            return
        self._start(
            "tables and clusters",
            write_report,
            then=self._after_report,
            kept="the tables written before the cancel are kept",
            store=self.workbench.store,
            make_figures=False,
            device=self.workbench.device,
        )

    def _after_report(self, result: ReportResult) -> None:
        """Say what was made, and why a group got no clusters (the reason is otherwise only
        in Table 3's notes)."""
        self.workbench.refresh()
        table = result.tables.get("table3")
        reasons = []
        if table is not None:
            columns = [c.name for c in table.columns]
            for values in table.rows:
                row = dict(zip(columns, values))
                if row.get("note"):
                    reasons.append(f"image/{row['masks']}: {row['note']}")
        if reasons:
            self.viewRequested.emit("clusters")
            self.message.emit("warning", "tables written, but no clusters for " + "; ".join(reasons))
        elif result.tables:
            self.message.emit("info", f"{len(result.tables)} tables written; clusters in the Clusters view")
        else:
            self.message.emit("warning", "nothing to tabulate yet: learn some masks first")

    def export_report(self, target: Path) -> None:
        """Write every table (CSV) and figure (PNG, SVG, PDF) of the run, and the whole report
        on one page (``report.html``), into ``target``."""
        store = self.workbench.store

        def copy(result) -> None:
            try:
                for part in ("tables", "figures"):
                    source = store.root / part
                    if source.is_dir():
                        shutil.copytree(source, Path(target) / part, dirs_exist_ok=True)
                if result.page is not None:
                    shutil.copy2(result.page, Path(target) / result.page.name)
            except OSError as exc:
                self.message.emit("error", f"could not write the report into {target}: {exc.strerror or exc}")
                return
            self.workbench.refresh()
            self.message.emit("info", f"report written to {target}")

        self._start(
            "export report",
            write_report,
            then=copy,
            kept=f"nothing was copied into {target}; the tables written before the cancel are kept in the run",
            store=store,
            make_figures=True,
            device=self.workbench.device,
        )

    def open_report_page(self) -> None:
        """Write the run's report (tables, figures, ``report.html``) and hand the page to the
        window to open in the user's browser."""
        store = self.workbench.store
        if store is None:
            self.message.emit("warning", "open a run or learn some masks first")
            return

        def ready(result: ReportResult) -> None:
            self.workbench.refresh()
            if result.page is None:  # cancelled before the page was written
                self.message.emit("warning", "the report page was not written")
                return
            self.message.emit("info", f"report page: {result.page}")
            self.pageReady.emit(result.page)

        self._start(
            "report page",
            write_report,
            then=ready,
            kept="the tables and figures written before the cancel are kept in the run",
            store=store,
            make_figures=True,
            device=self.workbench.device,
        )

    # --- job events --------------------------------------------------------------------------

    def _on_runner_started(self, name: str) -> None:
        self.job_bar.job_started(name)
        self.workbench.set_job(name)
        self._masks_seen, self._last_refresh = 0, time.monotonic()

    def _on_runner_progress(self, name: str, event) -> None:
        self.job_bar.job_progress(event)
        self.convergence.on_progress(event)
        if event.stage == "study":
            # A study step finished writing: show its models and results as they arrive.
            self.workbench.sync_models()
            self.workbench.refresh()
        elif (
            event.stage == "image-masks"
            and event.payload.get("masks_done", 0) > self._masks_seen
            and time.monotonic() - self._last_refresh > 2.0
        ):
            # Finished masks are already in the store: show them, at most every 2 s.
            self._masks_seen, self._last_refresh = event.payload["masks_done"], time.monotonic()
            group = event.payload.get("group")  # the engine names the group it writes to
            if group is not None:
                self.workbench.refresh_group(group)  # the other views catch up at the end

    def _on_runner_finished(self, name: str, result) -> None:
        self._kept.pop(name, None)
        self.job_bar.job_ended(f"{name}: done")
        self.workbench.set_job("")
        then = self._continuations.pop(name, None)
        if then is not None:
            try:
                then(result)
            except FourierMasksError as exc:
                self.message.emit("error", str(exc))
        else:
            self.workbench.refresh()
        self.convergence.job_ended()

    def _on_runner_cancelled(self, name: str, result) -> None:
        self._continuations.pop(name, None)
        kept = self._kept.pop(name, "")
        self.job_bar.job_ended(f"{name}: cancelled")
        self.workbench.set_job("")
        self.workbench.sync_models()
        self.workbench.refresh()
        self.convergence.job_ended()
        self.message.emit("warning", f"{name} was cancelled; {kept(result) if callable(kept) else kept}")

    def _on_runner_failed(self, name: str, message: str) -> None:
        self._continuations.pop(name, None)
        self._kept.pop(name, None)
        self.job_bar.job_ended(f"{name}: failed")
        self.workbench.set_job("")
        self.workbench.refresh()
        self.convergence.job_ended()
        self.message.emit("error", message)
