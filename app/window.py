"""The main window: docks over the workbench, menus, dialogs, settings, drag and drop.

The jobs the dialogs ask for are started and followed by :class:`app.controller.JobController`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fourier_masks.core.devices import DEVICE_CHOICES, resolve_device
from fourier_masks.core.errors import DeviceError, FourierMasksError
from fourier_masks.core.models import MODEL_NAME_EXAMPLES, ZOOS, is_model_name
from fourier_masks.core.runs import check_cluster, sort_dropped_paths
from fourier_masks.core.study import study_config
from fourier_masks.resources import resource_path

from .controller import JobController
from .documents import DOCUMENTS, DocumentDialog
from .forms import (
    AdversarialMapsDialog,
    AnalysisDialog,
    AttackDialog,
    CompareDialog,
    CorruptionsDialog,
    CutoffSweepDialog,
    HeatMapDialog,
    ImageMaskDialog,
    LayerSpectraDialog,
    ModelDetailsDialog,
    ProfileDialog,
    SensitivityDialog,
    StudyDialog,
    TrainDialog,
)
from .layouts import LayoutManager, default_window_size
from .panels.analyses import AnalysesPanel
from .panels.clusters import ClustersPanel
from .panels.compare import ComparePanel
from .panels.convergence import ConvergencePanel
from .panels.images import ImagesPanel
from .panels.models import ModelsPanel
from .panels.spectrum import SpectrumPanel
from .panels.tables import TablesPanel
from .settings import RECENT_LIMIT, AppPaths
from .widgets import JobBar, MessageBar
from .workbench import Workbench
from .workers import NoticeRelay

__all__ = ["MainWindow"]

log = logging.getLogger(__name__)

LAYOUT_VERSION = 2  # 2: task layouts; states saved by 1 squeezed the Images view and are not restored


class WelcomePage(QWidget):
    """What a newcomer sees first: one click runs the built-in demo study."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        outer = QHBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        column = QWidget()
        column.setMaximumWidth(760)  # a readable line length on a wide screen
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        outer.addStretch(1)
        outer.addWidget(column, 8)
        outer.addStretch(1)
        title = QLabel(
            "<h1>Fourier Masks</h1><p>Which input frequencies does a trained classifier really need? "
            "Learn Fourier masks for a whole dataset, per class or per image, compare models trained with "
            "different augmentations, attack them, and export publication figures.</p>"
        )
        title.setWordWrap(True)
        layout.addWidget(title)
        self.demo_button = QPushButton("▶  Run the demo study (about 10 minutes on 2 CPU cores)")
        self.demo_button.setMinimumHeight(44)
        self.demo_button.clicked.connect(lambda: window.run_demo(quick=True))
        layout.addWidget(self.demo_button)
        for text, slot in (
            ("Open images… (or drop them on this window)", window.ask_images),
            ("Load checkpoints…", window.ask_checkpoints),
            ("Load a model by name… (torchvision, timm, Hugging Face, RobustBench)", window.ask_model_name),
            ("Open a saved run…", window.ask_run),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            layout.addWidget(button)
        layout.addWidget(QLabel("Recent runs"))
        self.recent = QListWidget()
        self.recent.itemActivated.connect(lambda item: window.open_run(item.text()))
        layout.addWidget(self.recent, 1)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent.addItems(paths)


class MainWindow(QMainWindow):
    """What the user sees and is asked; the jobs it asks for are ``self.controller``'s."""

    def __init__(self, paths: AppPaths, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.settings = settings
        self.setWindowTitle("Fourier Masks")
        self.setWindowIcon(QIcon(str(resource_path("icon.svg"))))
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        device = str(settings.value("device", "auto"))
        try:
            self.workbench = Workbench(paths, device)
        except DeviceError:
            self.workbench = Workbench(paths, "auto")

        self.message_bar = MessageBar()
        self.notices = NoticeRelay(self)
        self.notices.noticed.connect(self._on_notices_noticed)
        self.welcome = WelcomePage(self)
        self.setCentralWidget(self.welcome)
        self.panels = {
            "models": ModelsPanel(self.workbench),
            "convergence": ConvergencePanel(self.workbench),
            "spectrum": SpectrumPanel(self.workbench),
            "images": ImagesPanel(self.workbench),
            "clusters": ClustersPanel(self.workbench),
            "compare": ComparePanel(self.workbench),
            "tables": TablesPanel(self.workbench),
            "analyses": AnalysesPanel(self.workbench),
        }
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self.job_bar = JobBar()
        self.device_label = QLabel()
        self.statusBar().addPermanentWidget(self.job_bar, 1)
        self.statusBar().addPermanentWidget(self.device_label)
        cluster = str(settings.value("cluster", "") or "") or None  # per-image masks on Ray
        self.controller = JobController(self.workbench, self.job_bar, self.panels["convergence"], cluster, self)
        self.runner = self.controller.runner  # opening a run and closing the window stop its job
        self._build_menus()
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(0)
        top_layout.addWidget(self.menuBar())
        top_layout.addWidget(self.message_bar)
        self.setMenuWidget(top)

        self.workbench.message.connect(self.show_message)
        self.workbench.jobChanged.connect(self._on_workbench_job_changed)
        self.workbench.runChanged.connect(self._on_workbench_run_changed)
        self.workbench.modelsChanged.connect(self._update_central)
        self.controller.message.connect(self.show_message)
        self.controller.viewRequested.connect(self._on_controller_view_requested)
        self.controller.detailsNeeded.connect(self.ask_model_details)
        self.controller.runOpened.connect(self._remember_run)
        self.controller.pageReady.connect(self._on_controller_page_ready)
        self.controller.modelNeeded.connect(self.offer_model)
        self.panels["models"].loadRequested.connect(self.ask_checkpoints)
        self.panels["models"].trainRequested.connect(self.ask_train)
        self.panels["images"].attackRequested.connect(self.ask_attack)
        self.panels["clusters"].computeRequested.connect(self.controller.compute_report)
        self.panels["compare"].compareRequested.connect(self.ask_compare)
        self.panels["analyses"].adversarialMapsRequested.connect(self.ask_adversarial_maps)
        self.panels["analyses"].heatMapRequested.connect(self.ask_heat_map)
        self.panels["analyses"].robustnessRequested.connect(self.ask_robustness)
        analyses = self.panels["analyses"]
        analyses.cutoffSweepRequested.connect(lambda: self.ask_frequency_analysis("cutoff sweep"))
        analyses.sensitivityRequested.connect(lambda model: self.ask_frequency_analysis("gradient spectrum", model))
        analyses.corruptionsRequested.connect(lambda: self.ask_frequency_analysis("corruptions"))
        analyses.layerSpectraRequested.connect(lambda model: self.ask_frequency_analysis("layer spectra", model))
        analyses.profileRequested.connect(lambda: self.ask_frequency_analysis("profile"))
        self._update_device_label()
        screen = self.screen() or QGuiApplication.primaryScreen()
        self.resize(default_window_size(screen.availableGeometry().size()) if screen else QSize(1500, 950))
        self._restore_layout()
        self.welcome.set_recent(self.recent_runs())
        self._update_central()

    # --- layout ------------------------------------------------------------------------------

    def _build_docks(self) -> None:
        """One dock per panel; where they go is the chosen task's layout (see app.layouts)."""
        for name, panel in self.panels.items():
            dock = QDockWidget(panel.title, self)
            dock.setObjectName(f"dock-{name}")
            dock.setWidget(panel)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self.docks[name] = dock
        # The live mask beside its curves: the curves keep their width, so in a narrower dock the
        # mask (aspect kept) shrinks to a sliver (at 420 px it is 45 px wide, at 520 px 120 px).
        self.panels["convergence"].setMinimumSize(520, 220)
        self.layouts = LayoutManager(self, self.docks, self.settings, LAYOUT_VERSION)  # placed by _restore_layout
        self.panels["images"].openImagesRequested.connect(self.ask_images)
        self.panels["compare"].loadRequested.connect(self.ask_checkpoints)

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self.layouts.restore()

    def reset_layout(self) -> None:
        """The current task layout's default (View → Reset layout)."""
        self.layouts.reset()

    def _update_central(self) -> None:
        """The welcome page stays until there is something to look at, and until then it is
        all there is: empty docks around it would squeeze it (and it them)."""
        has_content = self.workbench.store is not None or bool(self.workbench.models)
        self.welcome.setVisible(not has_content)
        self.layouts.suspend(not has_content)

    # --- menus -------------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "Open images…", self.ask_images, "Ctrl+O")
        self._action(file, "Load checkpoints…", self.ask_checkpoints, "Ctrl+L")
        self._action(file, "Load by name…", self.ask_model_name, "Ctrl+Shift+L")
        self._action(file, "Open run…", self.ask_run, "Ctrl+Shift+O")
        self.recent_menu = file.addMenu("Recent runs")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addSeparator()
        self._action(file, "Export report folder…", self.ask_export_report, "Ctrl+E")
        self._action(file, "Open report page", self.controller.open_report_page, "Ctrl+Shift+E")
        file.addSeparator()
        self._action(file, "Quit", self.close, "Ctrl+Q")
        run = bar.addMenu("&Run")
        self._action(run, "Run the demo study (quick)", lambda: self.run_demo(quick=True))
        self._action(run, "Run the standard demo study", lambda: self.run_demo(quick=False))
        self._action(run, "New study…", self.ask_study)
        run.addSeparator()
        self._action(run, "Single-image mask settings…", self.ask_image_settings)
        self._action(run, "Train models…", self.ask_train)
        self._action(run, "Compare models…", self.ask_compare)
        self._action(run, "Compute tables and clusters", self.controller.compute_report)
        run.addSeparator()
        self._action(run, "Adversarial frequency maps…", self.ask_adversarial_maps)
        self._action(run, "Fourier heat map…", lambda: self.ask_heat_map(self.workbench.current_model or ""))
        self._action(run, "Robustness of the loaded models…", self.ask_robustness)
        for kind, text in (
            ("cutoff sweep", "Cutoff sweep of the loaded models…"),
            ("gradient spectrum", "Gradient spectrum…"),
            ("corruptions", "Common corruptions of the loaded models…"),
            ("layer spectra", "Layer spectra…"),
            ("profile", "Profile models…"),
        ):
            self._action(run, text, lambda checked=False, k=kind: self.ask_frequency_analysis(k))
        run.addSeparator()
        self._action(run, "Cancel the running job", self.runner.cancel, "Esc")
        view = bar.addMenu("&View")
        self.layouts.add_menu(view)
        self._action(view, "Reset layout", self.reset_layout)
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        settings = bar.addMenu("&Settings")
        device_menu = settings.addMenu("Device")
        group = QActionGroup(self)
        for name in DEVICE_CHOICES:
            action = QAction(name, self, checkable=True)
            action.setChecked(name == self.workbench.device_name)
            try:
                resolve_device(name)
            except DeviceError:
                action.setEnabled(False)
            action.triggered.connect(lambda checked=False, n=name: self.set_device(n))
            group.addAction(action)
            device_menu.addAction(action)
        cluster_menu = settings.addMenu("Per-image masks on")
        cluster = self.controller.cluster
        clusters = QActionGroup(self)
        choices = (
            ("this machine", None),
            ("a local Ray cluster (all cores)", "ray"),
            ("the running Ray cluster (ray start)", "auto"),
            ("a Ray cluster at ray://HOST:PORT…", "ray://"),
        )
        for text, value in choices:
            action = QAction(text, self, checkable=True)
            action.setChecked(value == cluster or (value == "ray://" and (cluster or "").startswith("ray://")))
            action.triggered.connect(lambda checked=False, v=value: self.set_cluster(v))
            clusters.addAction(action)
            cluster_menu.addAction(action)
        help_menu = bar.addMenu("&Help")
        for title, name in DOCUMENTS:
            self._action(help_menu, title, lambda checked=False, t=title, n=name: self.show_document(t, n))
        help_menu.addSeparator()
        self._action(help_menu, "Report a problem…", self.report_problem)
        self._action(help_menu, "About Fourier Masks", self.about)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_runs():
            self.recent_menu.addAction(path, lambda p=path: self.open_run(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    # --- settings ----------------------------------------------------------------------------

    def recent_runs(self) -> list[str]:
        value = self.settings.value("recent/runs", [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [p for p in paths if Path(p, "run.json").is_file()]

    def _remember_run(self, path: Path) -> None:
        paths = [str(path)] + [p for p in self.recent_runs() if p != str(path)]
        self.settings.setValue("recent/runs", paths[:RECENT_LIMIT])

    def set_device(self, name: str) -> None:
        try:
            self.workbench.set_device(name)
        except DeviceError as exc:
            self.show_message("error", str(exc))
            return
        self.settings.setValue("device", name)
        self._update_device_label()

    def set_cluster(self, value: str | None) -> None:
        """Where jobs learn per-image masks: this machine (None) or a Ray cluster."""
        if value == "ray://":
            address, ok = QInputDialog.getText(self, "Ray cluster", "Address (ray://HOST:PORT):", text="ray://")
            if not ok:
                return
            value = address.strip()
        if value is not None:
            try:
                check_cluster(value)
            except FourierMasksError as exc:
                self.show_message("error", str(exc))
                return
        self.controller.cluster = value
        self.settings.setValue("cluster", value or "")
        self._update_device_label()

    def _update_device_label(self) -> None:
        cluster = self.controller.cluster
        where = f" · per-image masks on {cluster}" if cluster else ""
        self.device_label.setText(f"device: {self.workbench.device} ({self.workbench.device_name}){where}")

    # --- messages ----------------------------------------------------------------------------

    def show_message(self, level: str, text: str) -> None:
        getattr(log, {"error": "error", "warning": "warning"}.get(level, "info"))(text)
        self.message_bar.show_message(level, text)

    def report_problem(self) -> None:
        self.show_message(
            "info",
            f"The log file is {self.paths.log_file} (warnings and errors of the app and the "
            f"command line); attach it to your report. Settings: {self.paths.settings_file}",
        )
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.paths.logs)))

    def show_document(self, title: str, name: str) -> None:
        """A packaged document (Help menu), beside the window."""
        try:
            dialog = DocumentDialog(title, name, self)
        except FileNotFoundError as exc:
            self.show_message("error", f"{exc}; reinstall Fourier Masks to get its documents back")
            return
        dialog.show()

    def about(self) -> None:
        from fourier_masks import __version__

        self.show_message(
            "info",
            f"Fourier Masks {__version__}: Fourier-domain masks after Karantzas et al. "
            f"Device: {self.workbench.device}. Log: {self.paths.log_file}",
        )

    # --- opening things ----------------------------------------------------------------------

    def ask_images(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open images",
            str(Path.home()),
            "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp *.gif);;All files (*)",
        )
        if files:
            self.handle_paths(files)

    def ask_checkpoints(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Load checkpoints",
            str(Path.home()),
            "Models (*.safetensors *.pt *.pth *.pt2 *.ts *.ckpt);;All files (*)",
        )
        if files:
            self.handle_paths(files)

    def ask_model_name(self) -> None:
        name, ok = QInputDialog.getItem(
            self,
            "Load a model by name",
            "A model from torchvision, timm, Hugging Face or RobustBench (downloaded once into the\n"
            "library's own cache, then found offline). For example:\n" + "\n".join(MODEL_NAME_EXAMPLES),
            list(MODEL_NAME_EXAMPLES),
            0,
            True,
        )
        if ok:
            self.load_by_name(name)

    def load_by_name(self, name: str) -> None:
        """Load a model such as ``timm:resnet50.a1_in1k`` into the run (off the GUI thread)."""
        name = name.strip()
        if not is_model_name(name):
            self.show_message(
                "warning",
                f"{name or 'nothing'} is not a model name: start it with {', '.join(z + ':' for z in ZOOS)} "
                f"(e.g. {MODEL_NAME_EXAMPLES[1]})",
            )
            return
        self.controller.load_checkpoints([name])

    def offer_model(self, count: int) -> None:
        """Images came before any model: offer the ways to get one (the images wait for it),
        in a box that does not block the window's event loop."""
        box = QMessageBox(self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("A model is needed")
        box.setText(f"A mask keeps what a model needs: {count} image file(s) or folder(s) wait for a model.")
        box.setInformativeText("Load one or train one; the images' masks are learned as soon as it is there.")
        actions = {
            box.addButton("Load checkpoints…", QMessageBox.ButtonRole.AcceptRole): self.ask_checkpoints,
            box.addButton("Load by name…", QMessageBox.ButtonRole.AcceptRole): self.ask_model_name,
            box.addButton("Train…", QMessageBox.ButtonRole.AcceptRole): self.ask_train,
        }
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.buttonClicked.connect(lambda button: actions[button]() if button in actions else None)
        box.open()

    def ask_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(self.paths.runs))
        if folder:
            self.open_run(folder)

    def open_run(self, path: str | Path) -> None:
        self.runner.stop()
        try:
            self.workbench.open_run(path)
        except FourierMasksError as exc:
            self.show_message("error", str(exc))
            return
        self._remember_run(Path(path))
        damage = self.workbench.damage
        if damage:
            self.show_message(
                "warning",
                f"opened {path} read-only: {len(damage)} damaged part(s), the rest is usable: "
                + "; ".join(damage.values()),
            )
        elif self.workbench.shard_damage:
            self.show_message("warning", f"opened {path}; " + "; ".join(self.workbench.shard_damage))
        else:
            self.show_message("info", f"opened {path}")

    def handle_paths(self, paths: list[str | Path]) -> None:
        """What a drop (or the open dialogs) does: runs open, checkpoints load, images get masks."""
        checkpoints, images, runs = sort_dropped_paths(paths)
        if runs:
            self.open_run(runs[0])
        if checkpoints:
            trusted = self._trusted(checkpoints)
            if trusted:
                self.controller.load_checkpoints(trusted, images)
        elif images:
            self.controller.learn_image_masks(images)
        elif not runs:
            self.show_message("warning", "nothing usable was dropped: no images, checkpoints or run folders")

    def _trusted(self, checkpoints: list[Path]) -> list[Path]:
        """The model files to load: TorchScript and torch.export programs run as the model, so
        the user is asked before each is opened (a file that cannot be read goes on, and the
        loader says what is wrong with it)."""
        from fourier_masks.core.models import GRAPH_FORMATS, TRUSTED_ONLY, model_file_kind

        kept = []
        for path in checkpoints:
            try:
                program = model_file_kind(path) in GRAPH_FORMATS
            except FourierMasksError:
                program = False
            if program and not self.confirm_trusted(path, f"{path.name} {TRUSTED_ONLY}."):
                self.show_message("info", f"{path.name} not loaded")
                continue
            kept.append(path)
        return kept

    def confirm_trusted(self, path: Path, text: str) -> bool:
        """Ask whether to open a program file (tests replace it)."""
        answer = QMessageBox.question(
            self,
            "Open a program file?",
            f"{text}\n\nOpen {path.name}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        event.acceptProposedAction()
        if paths:
            self.handle_paths(paths)

    # --- asking for jobs: each dialog's answer goes to the controller ------------------------

    def run_demo(self, quick: bool = True) -> None:
        """The study on the built-in data, in the app's own data folder."""
        config = study_config("quick" if quick else "standard")
        self.controller.start_study(
            config, self.paths.runs / ("demo-quick" if quick else "demo-standard"), "demo study"
        )

    def ask_study(self) -> None:
        dialog = StudyDialog(self)
        dialog.dataset.combo.setCurrentText(self._data_spec())
        if dialog.exec() and dialog.answer is not None:
            config = dialog.answer
            # One folder per data and model shape, so asking again for the same study resumes it.
            data = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(config.dataset.rstrip("/")).name or config.dataset)
            models = (
                "-".join(
                    f"{code}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', Path(spec).name)}" for code, spec in config.given_models
                )
                if config.given_models
                else f"{config.arch}-{config.image_size}px"
            )
            folder = self.paths.runs / f"study-{data.strip('-.') or 'data'}-{models}"
            self.controller.start_study(config, folder, "study")

    def ask_model_details(self, path: Path, needs: str) -> None:
        """Ask for what a model file does not say about itself, then load it with that."""
        dialog = ModelDetailsDialog(path.name, needs, self)
        if dialog.exec() and dialog.answer is not None:
            self.controller.load_with_details(path, dialog.answer)
        else:
            self.show_message(
                "warning",
                f"{path.name} was not loaded: it needs its "
                f"{'architecture' if needs == 'arch' else 'input and output shapes'}",
            )

    def ask_image_settings(self) -> None:
        model = self.workbench.model()
        dialog = ImageMaskDialog(self.controller.image_config, model.info.image_size if model else 32, self)
        if dialog.exec() and dialog.answer is not None:
            self.controller.image_config = dialog.answer

    def ask_attack(self, group: str) -> None:
        dialog = AttackDialog(self.controller.image_config, self)
        if dialog.exec() and dialog.answer is not None:
            self.controller.attack(group, dialog.answer)

    def ask_train(self) -> None:
        dialog = TrainDialog(self)
        if dialog.exec() and dialog.answer is not None:
            self.controller.train(dialog.answer)

    def ask_compare(self) -> None:
        dialog = CompareDialog(self)
        if dialog.exec() and dialog.answer is not None:
            self.controller.compare(dialog.answer)

    def _data_spec(self) -> str:
        """The run's own validation data when it recorded one, else the built-in set."""
        data = self.workbench.store.manifest.data if self.workbench.store else None
        return data.spec if data else "builtin"

    def ask_adversarial_maps(self) -> None:
        model = self.workbench.model()
        if model is None:
            self.show_message("warning", "load or train a model first")
            return
        dialog = AdversarialMapsDialog(model.info.image_size, self)
        dialog.dataset.combo.setCurrentText(self._data_spec())
        if dialog.exec() and dialog.answer is not None:
            self.controller.adversarial_maps(dialog.answer)

    def ask_heat_map(self, model_name: str) -> None:
        if model_name not in self.workbench.models:
            self.show_message("warning", "choose a loaded model for the heat map")
            return
        dialog = HeatMapDialog(self)
        dialog.dataset.combo.setCurrentText(self._data_spec())
        if dialog.exec() and dialog.answer is not None:
            self.controller.heat_map(model_name, dialog.answer)

    def ask_robustness(self) -> None:
        if not self.workbench.models:
            self.show_message("warning", "load the models to evaluate first")
            return
        dialog = AnalysisDialog(
            "Robustness",
            "Accuracy of every loaded model under low- and high-pass Gaussian "
            "noise and PGD, and the high-frequency share of its input gradient.",
            0,
            self,
        )
        dialog.dataset.combo.setCurrentText(self._data_spec())
        dialog.finish()
        if dialog.exec() and dialog.answer is not None:
            self.controller.robustness(dialog.answer)

    def frequency_dialog(self, kind: str):
        """The dialog that asks for one of the frequency-robustness analyses (not yet shown)."""
        models = list(self.workbench.models)
        dialogs = {
            "cutoff sweep": lambda: CutoffSweepDialog(self),
            "gradient spectrum": lambda: SensitivityDialog(self),
            "corruptions": lambda: CorruptionsDialog(models, self),
            "layer spectra": lambda: LayerSpectraDialog(self),
            "profile": lambda: ProfileDialog(models, self),
        }
        dialog = dialogs[kind]()
        dialog.dataset.combo.setCurrentText(self._data_spec())
        return dialog

    def start_frequency_analysis(self, kind: str, answer, model_name: str = "") -> None:
        """Start the job ``kind`` with a dialog's ``answer`` (per-model kinds on ``model_name``)."""
        jobs = {
            "cutoff sweep": lambda: self.controller.cutoff_sweep(answer),
            "gradient spectrum": lambda: self.controller.sensitivity(model_name, answer),
            "corruptions": lambda: self.controller.corruptions(answer),
            "layer spectra": lambda: self.controller.layer_spectra(model_name, answer),
            "profile": lambda: self.controller.profile(answer),
        }
        jobs[kind]()

    def ask_frequency_analysis(self, kind: str, model_name: str = "") -> None:
        """Ask for a cutoff sweep, gradient spectrum, corruptions, layer spectra or profile and
        start it: per model (``model_name``, by default the current one) or on every loaded model."""
        if not self.workbench.models:
            self.show_message("warning", f"load the models for the {kind} first")
            return
        model_name = model_name or self.workbench.current_model or ""
        if kind in ("gradient spectrum", "layer spectra") and model_name not in self.workbench.models:
            self.show_message("warning", f"choose a loaded model for the {kind}")
            return
        dialog = self.frequency_dialog(kind)
        if dialog.exec() and dialog.answer is not None:
            self.start_frequency_analysis(kind, dialog.answer, model_name)

    def ask_export_report(self) -> None:
        if self.workbench.store is None:
            self.show_message("warning", "there is no run to export yet")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the report into a folder", str(Path.home()))
        if not folder:
            return
        target = Path(folder)
        if any(target.iterdir()):
            answer = QMessageBox.question(
                self, "Overwrite?", f"{target} is not empty; files of the same name will be replaced. Continue?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.controller.export_report(target)

    # --- what the workbench, the controller and the engine report ----------------------------

    def _on_workbench_run_changed(self) -> None:
        store = self.workbench.store
        self.setWindowTitle(f"Fourier Masks — {store.root.name}" if store else "Fourier Masks")
        self._update_central()

    def _on_workbench_job_changed(self, name: str) -> None:
        """A new job makes the last one's news stale ("4 of 4 masks learned", "was cancelled"):
        it goes, unless it is an error the user may not have read yet."""
        if name and self.message_bar.level in ("info", "warning"):
            self.message_bar.hide()

    def _on_controller_page_ready(self, page: Path) -> None:
        """Open the report page in the user's browser (it is one file: nothing else to serve)."""
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(page))):
            self.show_message("warning", f"no browser opened the report page; open {page} yourself")

    def _on_controller_view_requested(self, name: str) -> None:
        self.docks[name].raise_()

    def _on_notices_noticed(self, text: str) -> None:
        self.show_message("info", text)

    # --- closing -----------------------------------------------------------------------------

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.runner.shutdown()
        self.notices.detach()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.remove("window/state")  # LAYOUT_VERSION 1's single layout
        self.layouts.save()
        self.settings.sync()
        super().closeEvent(event)
