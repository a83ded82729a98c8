"""The app's side of progress: the job bar holds the study's step count through the report's
sub-steps, Convergence draws a model's training curves, and the worker's throttle never drops
an epoch's validation scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("PySide6")

from fourier_masks.app.widgets import JobBar  # noqa: E402
from fourier_masks.app.workers import JobWorker  # noqa: E402
from fourier_masks.core.progress import Progress, StudyProgress  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _in_study(event: Progress, step: int, fraction: float, eta: float | None, bound: bool = False) -> Progress:
    study = StudyProgress(step, 12, f"the study's step {step}", fraction, eta, bound, eta, elapsed_s=100 * fraction)
    return dataclasses.replace(event, study=study)


def test_the_job_bar_keeps_the_study_step_through_the_report(qtbot):
    bar = JobBar()
    qtbot.addWidget(bar)
    bar.job_started("demo")
    bar.job_progress(_in_study(Progress("study", 0, 12, "load data"), 1, 0.0, None))
    bar._redraw()
    assert bar.bar.format() == "step 1/12 · the study's step 1" and bar.eta.text() == "ETA estimating…"
    bar.job_progress(_in_study(Progress("train", 5, 290, "N epoch 1/10"), 2, 0.05, 400.0, bound=True))
    bar._redraw()
    assert bar.bar.format() == "step 2/12 · the study's step 2 · train: N epoch 1/10"
    assert bar.eta.text().startswith("ETA ≤ 6 min") and bar.bar.value() == 50
    for k, name in enumerate(["Table 1", "Table 2 and its controls", "Table 3"]):
        bar.job_progress(_in_study(Progress("report", k, 8, name), 12, 0.9, 30.0))
        bar._redraw()
        assert bar.bar.format().startswith("step 12/12 · "), bar.bar.format()
        assert bar.bar.format().endswith(f"{name} {k + 1}/8")
    assert bar.bar.value() == 900
    bar.job_ended("demo: done")
    assert bar.eta.text() == ""


def test_the_job_bar_of_a_single_job_shows_its_own_eta(qtbot):
    bar = JobBar()
    qtbot.addWidget(bar)
    bar.job_started("image masks")
    event = Progress("image-masks", 10, 1_000, "0/10 masks", 2.0, work_done=10, work_left=890, left_is_bound=True)
    bar.job_progress(event)
    bar._redraw()
    assert bar.bar.format() == "image-masks: 0/10 masks" and bar.eta.text() == "ETA ≤ 2 min 58 s"


def _training_events() -> list[Progress]:
    """Two epochs of four batches, each closed by the epoch's row, as train_model sends them."""
    events = []
    for epoch in (1, 2):
        for b in range(4):
            payload = dict(
                epoch=epoch,
                epochs_done=epoch - 1 + (b + 1) / 4,
                train_loss=2.0 - b / 20,
                train_accuracy=0.2,
                batch_loss=2.0 - b / 10,
                batch_accuracy=0.2,
            )
            events.append(Progress("train", (epoch - 1) * 4 + b + 1, 8, f"N epoch {epoch}/2", payload=payload))
        row = dict(epoch=epoch, train_loss=1.5, train_accuracy=0.3, val_loss=1.6 / epoch, val_accuracy=0.25 * epoch)
        events.append(Progress("train", epoch * 4, 8, "N epoch done", payload=dict(row, epochs_done=float(epoch))))
    return events


def test_convergence_draws_training_curves_then_masks_again(qtbot, home):
    from fourier_masks.app.panels.convergence import ConvergencePanel
    from fourier_masks.app.settings import app_paths
    from fourier_masks.app.workbench import Workbench

    panel = ConvergencePanel(Workbench(app_paths()))
    qtbot.addWidget(panel)
    panel.reset()
    for event in _training_events():
        panel.on_progress(event)
    assert panel.mode == "training" and panel.xlabel == "epoch"
    assert panel.stack.currentWidget() is panel.training_view
    qtbot.waitUntil(lambda: panel.training_curves["train loss"].xData is not None)
    xs, ys = panel.training_curves["train loss"].getData()
    assert len(xs) == 8 and xs[0] == 0.25 and xs[-1] == 2.0  # each batch, at its fractional epoch
    assert list(ys[:3]) == pytest.approx([2.0, 1.99, 1.971])  # a moving average of the batches
    xs, ys = panel.training_curves["validation loss"].getData()
    assert list(xs) == [1.0, 2.0] and list(ys) == pytest.approx([1.6, 0.8])
    assert list(panel.training_curves["validation accuracy"].getData()[1]) == pytest.approx([0.25, 0.5])
    assert panel.table() is not None and panel.table().title == "Training curves"
    masks = np.ones((2, 1, 8, 8), np.float32)
    payload = dict(
        masks=masks,
        ids=["a", "b"],
        steps=np.array([10, 10]),
        invariance=np.ones(2),
        kept_fraction=np.ones(2),
        prediction_kept=np.ones(2, bool),
        batch_steps=10,
    )
    panel.on_progress(Progress("image-masks", 20, 200, "0/2 masks", payload=payload))
    assert panel.mode == "masks" and panel.stack.currentWidget() is panel.mask_page
    assert panel.history["kept fraction"] == ([10.0], [1.0]) and panel.history["train loss"] == ([], [])


def test_the_throttle_never_drops_an_epochs_validation_scores(qtbot):
    worker = JobWorker("train", lambda **_: None, {})
    sent: list[Progress] = []
    worker.progress.connect(sent.append)
    for event in _training_events():  # all within microseconds: the batches are throttled
        worker._on_progress(event)
    assert [e.payload["epoch"] for e in sent if "val_loss" in e.payload] == [1, 2]
    assert len(sent) < len(_training_events())
