"""The Analyses view's frequency-robustness tabs (cutoff sweep, gradient spectrum, corruptions,
layer spectra, profile), the heat map's top-5 toggle, the Compare view's overlays, and the
jobs behind them, on a run the engine's own ``run_*`` functions wrote for a tiny model."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch

from fourier_masks.core.attacks import AttackConfig
from fourier_masks.core.data import DataRequest
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.masks import SetMaskConfig

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QEvent  # noqa: E402

from fourier_masks.app import requests as rq  # noqa: E402

JOB_TIMEOUT_MS = 60_000
CORRUPTIONS = ("gaussian_noise", "gaussian_blur")
SEVERITIES = (1, 5)
RADII = (0.2, 0.5, 0.9, 1.4)
DATA = DataRequest(spec="builtin", val_per_class=4, per_class=2)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def analysed_run(tmp_path_factory, trained_shapes_model, tiny_shapes):
    """A run with two 16-px shape models (N as trained, S with its weights jittered) and every
    new analysis the engine saves: corruptions, cutoff sweeps, N's gradient spectrum, layer
    spectra and heat map (top-1 and top-5), and the profile of both."""
    from fourier_masks.core.beyond import (
        ProfileConfig,
        run_corruptions,
        run_cutoff_sweep,
        run_heat_map,
        run_layer_spectra,
        run_profile,
        run_sensitivity,
    )
    from fourier_masks.core.models.checkpoints import save_checkpoint
    from fourier_masks.core.runs import ResultsStore

    folder = tmp_path_factory.mktemp("analysed") / "run"
    store = ResultsStore(folder, overwrite=True)
    jittered = copy.deepcopy(trained_shapes_model)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in jittered.parameters():
            parameter.add_(0.2 * parameter.std().nan_to_num(0) * torch.randn(parameter.shape, generator=generator))
    models = {"N": trained_shapes_model, "S": jittered}
    (folder / "models").mkdir(exist_ok=True)
    for name, model in models.items():
        save_checkpoint(model, folder / "models" / f"{name}.pt")
    val = tiny_shapes.val
    run_corruptions(store, models, val, corruptions=CORRUPTIONS, severities=SEVERITIES, reference="N")
    run_cutoff_sweep(store, models, val, radii=RADII)
    run_sensitivity(store, "N", trained_shapes_model, val)
    run_layer_spectra(store, "N", trained_shapes_model, val)
    run_heat_map(store, "N", trained_shapes_model, val, eps=1.0)
    config = ProfileConfig(
        set_mask=SetMaskConfig(max_epochs=2),
        attack=AttackConfig(steps=2),
        heat_map_eps=1.0,
        heat_map_stride=4,
        corruptions=CORRUPTIONS[:1],
        severities=SEVERITIES,
        radii=RADII,
    )
    run_profile(store, models, val, config=config, reference="N")
    return folder


def _open(qtbot, run, size=(1366, 768)):
    from fourier_masks.app.main import create_window

    window = create_window(str(run))
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def window(qtbot, home, analysed_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(analysed_run, run)
    win = _open(qtbot, run)
    yield win
    win.runner.shutdown()


def _tab(panel, title):
    for index in range(panel.tabs.count()):
        if panel.tabs.tabText(index) == title:
            panel.tabs.setCurrentIndex(index)
            return panel.tabs.widget(index)
    raise AssertionError(f"no tab {title!r}")


def _exports(panel, tmp_path, name):
    figure = panel.export_figure_to(tmp_path / f"{name}.png")
    assert figure.read_bytes()[:4] == b"\x89PNG"
    tables = panel.tables()
    assert tables, name
    for table in tables:
        text = panel.save_table_to(tmp_path / f"{name}-{table}.csv", table).read_text()
        assert text.count("\n") >= 2, (name, table)


def _settle(qtbot):
    qtbot.wait(30)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    qtbot.wait(10)


def test_each_tab_shows_the_run_and_exports_it(qtbot, window, analysed_run, tmp_path, screenshots):
    from fourier_masks.core.runs import ResultsStore
    from fourier_masks.core.spectra import centred

    store = ResultsStore.open(analysed_run)
    panel = window.panels["analyses"]
    window.layouts.switch("analyses")
    window.docks["analyses"].raise_()
    assert not panel.empty.is_empty

    sweep = _tab(panel, "Cutoff sweep")
    assert set(sweep.sweeps) == {"N", "S"}
    for name in ("N", "S"):
        arrays = store.load_arrays(f"cutoff-sweep-{name}")
        for kind in ("low", "high"):
            x, y = sweep.curves[(name, 0, kind)].getData()
            np.testing.assert_allclose(x, arrays["radii"])
            np.testing.assert_allclose(y, 100 * arrays[kind][0])
    labels = [label.text for _, label in sweep.legends["low"].items]
    assert len(labels) == 2 and all("½ at" in t or "never halves" in t for t in labels)
    _exports(panel, tmp_path, "sweep")
    _settle(qtbot)
    panel.grab().save(str(screenshots / "analyses-cutoff-sweep.png"))

    gradient = _tab(panel, "Gradient spectrum")
    assert gradient.model_choice.currentText() == "N"
    arrays = store.load_arrays("sensitivity-N")
    np.testing.assert_allclose(gradient.maps[0].data, centred(arrays["mean"][0]), rtol=1e-6)
    mean, low, high = gradient.profiles[0]
    np.testing.assert_allclose(mean.getData()[1], arrays["profile"][0], rtol=1e-6)
    np.testing.assert_allclose(high.getData()[1] - low.getData()[1], 2 * arrays["profile_std"][0], rtol=1e-5)
    assert not gradient.maps[1].plot.isVisible()  # grey images: one channel
    _exports(panel, tmp_path, "gradient")
    _settle(qtbot)
    panel.grab().save(str(screenshots / "analyses-gradient-spectrum.png"))
    gradient.model_choice.setCurrentText("S")  # loaded, not computed: its own explanation and button
    assert gradient.empty.is_empty and "gradient spectrum of S" in gradient.empty.text
    asked = []
    window.ask_frequency_analysis = lambda kind, model="": asked.append((kind, model))  # no modal dialog here
    gradient.empty.buttons[gradient.button_text].click()
    assert asked == [("gradient spectrum", "S")]
    gradient.model_choice.setCurrentText("N")

    corruptions = _tab(panel, "Corruptions")
    assert list(corruptions.plots) == list(CORRUPTIONS)
    table = store.load_table("corruptions")
    for model, corruption, severity, accuracy in table.rows:
        x, y = corruptions.curves[(model, corruption)].getData()
        assert y[list(x).index(severity)] == pytest.approx(accuracy)
    assert corruptions.summary_model.rowCount() == 2
    assert "centroid" in corruptions.plots["gaussian_blur"].titleLabel.text
    _exports(panel, tmp_path, "corruptions")
    _settle(qtbot)
    panel.grab().save(str(screenshots / "analyses-corruptions.png"))

    layers = _tab(panel, "Layer spectra")
    deltas = [row[-1] for row in store.load_table("layer-spectra-N").rows]
    np.testing.assert_allclose(layers.curve.getData()[1], deltas)
    assert layers.table_model.rowCount() == len(deltas)
    _exports(panel, tmp_path, "layers")
    _settle(qtbot)
    panel.grab().save(str(screenshots / "analyses-layer-spectra.png"))

    profile = _tab(panel, "Profile")
    assert profile.profile_model.rowCount() == 2 and profile.correlation_model.rowCount() > 0
    _exports(panel, tmp_path, "profile")
    _settle(qtbot)
    panel.grab().save(str(screenshots / "analyses-profile.png"))

    panel.tabs.setCurrentIndex(1)
    panel.heat_model.setCurrentText("N")
    heat = store.load_arrays("heat-map-N")
    assert panel.heat_kind.isEnabled()
    np.testing.assert_allclose(panel.heat_view.data, centred(heat["heat"]), rtol=1e-6)
    panel.heat_kind.setCurrentText("top-5 error")
    np.testing.assert_allclose(panel.heat_view.data, centred(heat["heat_top5"]), rtol=1e-6)
    _exports(panel, tmp_path, "heat")
    _settle(qtbot)
    panel.grab().save(str(screenshots / "analyses-heat-map-top5.png"))

    compare = window.panels["compare"]
    window.docks["compare"].raise_()
    assert set(compare.sweeps) == {"N", "S"} and len(compare.sweep_curves) == 4
    x, y = compare.sweep_curves[("S", "high")].getData()
    np.testing.assert_allclose(y, 100 * store.load_arrays("cutoff-sweep-S")["high"][0])
    np.testing.assert_allclose(compare.gradient_curves["N"].getData()[1], arrays["profile"].mean(axis=0), rtol=1e-6)
    assert compare.export_figure_to(tmp_path / "compare.png", "cutoff sweeps").read_bytes()[:4] == b"\x89PNG"
    _settle(qtbot)
    compare.grab().save(str(screenshots / "compare-frequency-overlays.png"))
    window.grab().save(str(screenshots / "window-analyses-1366x768.png"))


def _run_from_dialog(qtbot, window, kind, fill, model="N", signal="finished"):
    """Open ``kind``'s dialog (never shown modally), ``fill`` it, press OK and run its job."""
    dialog = window.frequency_dialog(kind)
    dialog.dataset.combo.setCurrentText("builtin")
    dialog.val_per_class.setValue(DATA.val_per_class)
    dialog.per_class.setValue(DATA.per_class)
    fill(dialog)
    dialog.accept()
    assert dialog.answer is not None, dialog.error.text()
    answer = dialog.answer
    with qtbot.waitSignal(getattr(window.runner, signal), timeout=JOB_TIMEOUT_MS) as blocker:
        window.start_frequency_analysis(kind, answer, model)
        if signal == "cancelled":
            window.runner.cancel()
    return answer, blocker.args


def _few_corruptions(dialog):
    for name, box in dialog.corruptions.items():
        box.setChecked(name in CORRUPTIONS)
    for level, box in dialog.severities.items():
        box.setChecked(level in SEVERITIES)


def _cheap_profile(dialog):
    form = dialog.config_form
    form.set_value("heat_map_eps", 1.0)
    form.set_value("heat_map_stride", 4)
    form.set_value("corruptions", CORRUPTIONS[:1])
    form.set_value("severities", SEVERITIES)
    nested = form.fields["set_mask"][0].findChild(type(form))
    nested.set_value("max_epochs", 2)
    form.fields["attack"][0].findChild(type(form)).set_value("steps", 2)


FILLS = {
    "cutoff sweep": lambda dialog: dialog.radii.setValue(4),
    "gradient spectrum": lambda dialog: None,
    "corruptions": _few_corruptions,
    "layer spectra": lambda dialog: None,
}
WRITES = {
    "cutoff sweep": "cutoff-sweep-S",
    "gradient spectrum": "sensitivity-S",
    "corruptions": "corruptions",
    "layer spectra": "layer-spectra-S",
}


@pytest.fixture
def fresh_window(qtbot, home, analysed_run, tmp_path):
    """The analysed run's models in a run without any analysis."""
    run = tmp_path / "fresh"
    run.mkdir()
    shutil.copytree(analysed_run / "models", run / "models")
    shutil.copy(analysed_run / "run.json", run / "run.json")
    win = _open(qtbot, run)
    yield win
    win.runner.shutdown()


def test_each_job_runs_from_its_dialog_and_its_tab_shows_it(qtbot, fresh_window):
    window = fresh_window
    panel = window.panels["analyses"]
    assert panel.empty.is_empty
    for kind, fill in FILLS.items():
        answer, _ = _run_from_dialog(qtbot, window, kind, fill, model="S")
        assert answer.data == DATA
        assert WRITES[kind] in window.workbench.tables(), kind
    assert fresh_window.workbench.tables()["cutoff-sweep-S"].column("radius")[:1] == [pytest.approx(np.sqrt(2) / 4)]
    assert not panel.empty.is_empty
    sweep = _tab(panel, "Cutoff sweep")
    assert set(sweep.sweeps) == {"N", "S"}
    corruptions = _tab(panel, "Corruptions")
    assert list(corruptions.plots) == list(CORRUPTIONS)
    gradient = _tab(panel, "Gradient spectrum")
    gradient.model_choice.setCurrentText("S")
    assert gradient.result is not None and not gradient.empty.is_empty
    layers = _tab(panel, "Layer spectra")
    layers.model_choice.setCurrentText("S")
    assert layers.table is not None


@pytest.mark.slow
def test_profile_models_runs_from_the_menu_dialog(qtbot, fresh_window):
    window = fresh_window
    from PySide6.QtGui import QAction

    actions = [action.text() for action in window.findChildren(QAction)]
    assert "Profile models…" in actions

    def fill(dialog):
        _cheap_profile(dialog)
        dialog.models["S"].setChecked(True)
        dialog.reference.setCurrentText("S")

    answer, _ = _run_from_dialog(qtbot, window, "profile", fill)
    assert answer.reference == "S" and set(answer.models) == {"N", "S"}
    assert answer.config.set_mask.max_epochs == 2 and answer.config.corruptions == CORRUPTIONS[:1]
    profile = _tab(window.panels["analyses"], "Profile")
    assert profile.profile_model.rowCount() == 2


def test_a_cancelled_job_saves_nothing(qtbot, fresh_window):
    window = fresh_window
    messages = []
    window.controller.message.connect(lambda level, text: messages.append((level, text)))
    for kind, fill in FILLS.items():
        _run_from_dialog(qtbot, window, kind, fill, model="S", signal="cancelled")
        assert WRITES[kind] not in window.workbench.tables(), kind
        assert messages[-1][0] == "warning" and "nothing was saved" in messages[-1][1], kind
    assert not list(window.workbench.store.root.glob("data/*.npz"))
    assert window.panels["analyses"].empty.is_empty


def test_the_dialogs_refuse_what_the_engine_would(qtbot, home, analysed_run):
    from fourier_masks.app.forms import CorruptionsDialog, CutoffSweepDialog, ProfileDialog, cutoff_radii
    from fourier_masks.core.beyond import DEFAULT_RADII

    sweep = CutoffSweepDialog()
    qtbot.addWidget(sweep)
    sweep.eps.setText("0, 2")
    sweep.accept()
    assert sweep.answer is None and "ε" in sweep.error.text()
    sweep.eps.setText("0, 0.01")
    sweep.accept()
    assert isinstance(sweep.answer, rq.CutoffSweepRequest) and sweep.answer.eps == (0.0, 0.01)
    assert sweep.answer.radii == DEFAULT_RADII and cutoff_radii(4)[-1] == pytest.approx(np.sqrt(2))
    corruptions = CorruptionsDialog(["N", "S"])
    qtbot.addWidget(corruptions)
    for box in corruptions.severities.values():
        box.setChecked(False)
    corruptions.accept()
    assert corruptions.answer is None and "severity" in corruptions.error.text()
    profile = ProfileDialog(["N", "S"])
    qtbot.addWidget(profile)
    profile.models["N"].setChecked(False)
    profile.accept()
    assert profile.answer is None and "reference" in profile.error.text()
    with pytest.raises(ConfigError):
        profile.config_form.set_value("severities", (7,))
        profile.config_form.value()
