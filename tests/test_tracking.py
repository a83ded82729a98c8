"""``--log tensorboard:DIR`` and ``--log wandb:PROJECT``: a command's curves, masks and options
logged as it runs, read back with TensorBoard's own reader (W&B through a stand-in module, as
the real one needs an account)."""

import dataclasses
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from conftest import tiny_info
from PIL import Image

from fourier_masks.core.cli import main
from fourier_masks.core.models import build_classifier
from fourier_masks.core.progress import Progress
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.runs.tracking import ProgressTracker, TrackingTarget, open_tracker

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

DATA = ["--data", "builtin", "--size", "16", "--train-per-class", "4", "--val-per-class", "2"]


def _events(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def _error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.slow
def test_training_curves_reach_tensorboard(tmp_path):
    run, logs = tmp_path / "run", tmp_path / "tb"
    argv = ["train", *DATA, "--epochs", "3", "--batch-size", "8", "--out", str(run), "--quiet"]
    assert main([*argv, "--log", f"tensorboard:{logs}"]) == 0
    table = ResultsStore(run, create=False).load_table("training-N").to_dict()
    rows = [dict(zip([c["name"] for c in table["columns"]], row)) for row in table["rows"]]
    batches = 3  # 24 training images in batches of 8

    events = _events(logs / "train-N")
    epoch_loss = events.Scalars("train/val_loss")
    assert [e.step for e in epoch_loss] == [batches, 2 * batches, 3 * batches]  # one point per epoch
    assert [e.value for e in epoch_loss] == pytest.approx([row["val loss"] for row in rows], rel=1e-6)
    train_loss = events.Scalars("train/train_loss")
    assert [e.step for e in train_loss] == list(range(1, 3 * batches + 1))  # one per batch, not repeated
    assert train_loss[-1].value == pytest.approx(rows[-1]["train loss"], rel=1e-6)
    assert events.Scalars("train/val_accuracy")[-1].value == pytest.approx(rows[-1]["val accuracy"] / 100)

    root = _events(logs)  # the command's options, its hyper-parameters and how it ended
    options = root.Tensors("options/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| epochs | 3 |" in options and "| command | train |" in options
    hparams = root.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"} <= set(hparams)
    assert root.Tensors("outcome/text_summary")[0].tensor_proto.string_val[0].decode() == "finished"
    assert root.Scalars("final/train/val_loss")[0].value == pytest.approx(rows[-1]["val loss"], rel=1e-6)


@pytest.mark.slow
def test_mask_curves_and_centred_masks_reach_tensorboard(tmp_path, trained_shapes_model):
    from fourier_masks.core.models.checkpoints import save_checkpoint

    model = save_checkpoint(trained_shapes_model, tmp_path / "shapes16.pt")
    image = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(1).random((16, 16)) * 255).astype(np.uint8)).save(image)
    run, logs = tmp_path / "run", tmp_path / "tb"
    argv = ["masks", "image", "--model", str(model), "--images", str(image), "--max-steps", "60", "--out", str(run)]
    assert main([*argv, "--quiet", "--log", f"tensorboard:{logs}"]) == 0

    events = _events(logs / "image-masks")
    steps = [e.step for e in events.Scalars("image-masks/kept_fraction")]
    assert steps == sorted(steps) and len(steps) >= 2  # a point every check of the learning masks
    assert 0 < events.Scalars("image-masks/kept_fraction")[-1].value <= 1
    assert events.Scalars("image-masks/masks_done")[-1].value == 1
    shown = events.Images("image-masks/mask")  # the first mask, then (within 30 s) only the last
    assert [e.step for e in shown] == [steps[0], steps[-1]]  # the last event has no masks: they are done
    assert all((e.height, e.width) == (16, 16) for e in shown)


def test_a_set_mask_is_logged_centred_and_throttled():
    """Scalars every event; an image on a job's first event, then at most one per interval,
    and always the job's last mask; a new job of the same stage gets a run of its own."""
    sink = _RecordingSink()
    now = [0.0]
    tracker = ProgressTracker(sink, image_every_s=10.0, clock=lambda: now[0])
    mask = np.zeros((1, 8, 8), dtype=np.float32)
    mask[0, 0, 0] = 1.0  # the zero frequency, in the unshifted layout
    for step in range(1, 6):
        now[0] = step  # 1 s apart: only the first is due
        tracker(Progress("set-mask", step, 10, payload={"mask": mask, "loss": 1.0 / step, "kept_fraction": 0.5}))
    tracker(Progress("set-mask", 1, 10, payload={"mask": mask, "loss": 2.0}))  # the count goes back: a new job
    tracker.close()
    runs = [run for run, _, _ in sink.logged]
    assert runs == ["set-mask"] * 5 + ["set-mask-2"]
    assert sink.logged[4][2]["set-mask/loss"] == pytest.approx(0.2)
    assert [(run, step) for run, _, step, _ in sink.images] == [("set-mask", 1), ("set-mask", 5), ("set-mask-2", 1)]
    centre = sink.images[0][3]
    assert centre.shape == (1, 8, 8) and centre[0, 4, 4] == 1.0 and centre.sum() == 1.0
    assert sink.finished == ("finished", pytest.approx(2.0))


def test_the_set_masks_of_two_models_are_runs_named_after_them():
    """learn_set_mask names its model in every event: a study's set masks of N and A are two
    runs, not one curve running on from the other."""
    from fourier_masks.core.masks import SetMaskConfig, learn_set_mask

    sink = _RecordingSink()
    tracker = ProgressTracker(sink)
    images = torch.rand(8, 1, 16, 16)
    labels = torch.arange(8) % 3
    for name in ("N", "A"):
        model = build_classifier(dataclasses.replace(tiny_info(classes=3, size=16), name=name)).eval()
        learn_set_mask(model, images, labels, config=SetMaskConfig(max_epochs=1, batch_size=8), on_progress=tracker)
    tracker.close()
    assert list(dict.fromkeys(run for run, _, _ in sink.logged)) == ["set-mask-N", "set-mask-A"]


def test_wandb_gets_the_options_curves_masks_and_the_end(tmp_path, monkeypatch):
    calls: list[tuple] = []
    fake = _fake_wandb(calls)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    run = tmp_path / "run"
    argv = ["train", *DATA, "--epochs", "1", "--out", str(run), "--quiet", "--log", "wandb:fm-test"]
    assert main(argv) == 0
    (init,) = [c for c in calls if c[0] == "init"]
    assert init[1]["project"] == "fm-test" and init[1]["config"]["epochs"] == 1
    logged = [c[1] for c in calls if c[0] == "log"]
    assert logged and all("train-N/step" in row for row in logged)
    assert any("train-N/train/val_loss" in row for row in logged)
    summary = [c[1] for c in calls if c[0] == "summary"][0]
    assert summary["outcome"] == "finished" and "final/train/val_loss" in summary
    assert calls[-1] == ("finish", {"exit_code": 0})


def test_trackers_are_closed_when_the_command_fails(tmp_path, monkeypatch):
    calls: list[tuple] = []
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
    from fourier_masks.core.cli.commands import train

    def fail(args):
        from fourier_masks.core.cli.common import printer

        printer(args)(Progress("train", 1, 4, payload={"model": "N", "train_loss": 1.0}))
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "run", fail)
    argv = ["train", *DATA, "--out", str(tmp_path / "r"), "--quiet", "--log", "wandb:p"]
    assert main(argv) == 130
    assert [c for c in calls if c[0] == "summary"][0][1]["outcome"] == "cancelled"
    assert calls[-1] == ("finish", {"exit_code": 1})


@pytest.mark.parametrize(
    ("value", "missing", "said"),
    [
        ("foo:x", None, "give tensorboard:DIR or wandb:PROJECT"),
        ("tensorboard:", None, "give tensorboard:DIR or wandb:PROJECT"),
        ("wandb:proj", "wandb", "pip install wandb"),
        ("tensorboard:logs", "tensorboard", "pip install tensorboard (or pip install 'fourier-masks[tracking]')"),
    ],
)
def test_a_tracker_that_cannot_be_used_is_one_error_line(tmp_path, capsys, monkeypatch, value, missing, said):
    if missing is not None:
        monkeypatch.setitem(sys.modules, missing, None)  # as when it is not installed
    argv = ["train", *DATA, "--out", str(tmp_path / "r"), "--log", value]
    assert main(argv) == 2
    line = _error(capsys)
    assert line.startswith("error: --log:") and said in line
    assert not (tmp_path / "r").exists()  # refused before anything started


@pytest.mark.slow
def test_an_ordinary_command_does_not_import_tensorboard(tmp_path):
    argv = ["train", *DATA, "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet"]
    code = (
        "import sys; from fourier_masks.core.cli import main; "
        f"assert main({argv!r}) == 0; "
        "loaded = [m for m in ('tensorboard', 'torch.utils.tensorboard', 'wandb') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_wandb_gets_masks_as_images(monkeypatch):
    calls: list[tuple] = []
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
    tracker = open_tracker(TrackingTarget("wandb", "p"), {"kind": "class", "lam": 0.01})
    masks = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)  # three masks learning at once
    tracker(Progress("image-masks", 5, 10, payload={"masks": masks, "kept_fraction": masks.mean(axis=(1, 2, 3))}))
    tracker.close()
    (first, *_) = [c[1] for c in calls if c[0] == "log"]
    assert first["image-masks/step"] == 5
    assert first["image-masks/image-masks/kept_fraction"] == pytest.approx(masks.mean())
    images = [row["image-masks/image-masks/mask"] for _, row in calls if "image-masks/image-masks/mask" in row]
    assert images == [("image", (17, 17))]  # a 2×2 grid of 8×8 masks with a 1-pixel gap
    assert ("define_metric", {"name": "image-masks/*", "step_metric": "image-masks/step"}) in calls


class _RecordingSink:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.logged: list[tuple[str, int, dict]] = []
        self.images: list[tuple[str, str, int, np.ndarray]] = []
        self.finished: tuple[str, float] | None = None

    def scalars(self, run, step, values) -> None:
        self.logged.append((run, step, dict(values)))

    def image(self, run, tag, step, image) -> None:
        self.images.append((run, tag, step, image))

    def end_run(self, run) -> None:
        pass

    def finish(self, final, outcome) -> None:
        self.finished = (outcome, final["final/set-mask/loss"])


def _fake_wandb(calls: list[tuple]) -> types.ModuleType:
    """A stand-in for ``wandb`` recording init, define_metric, log, summary and finish."""

    class Summary(dict):
        def update(self, values=(), **more) -> None:
            calls.append(("summary", dict(values, **more)))

    class Run:
        summary = Summary()

        def define_metric(self, name, step_metric=None) -> None:
            calls.append(("define_metric", {"name": name, "step_metric": step_metric}))

        def log(self, values) -> None:
            calls.append(("log", dict(values)))

        def finish(self, exit_code=0) -> None:
            calls.append(("finish", {"exit_code": exit_code}))

    module = types.ModuleType("wandb")

    def init(**options):
        calls.append(("init", options))
        return Run()

    module.init = init  # type: ignore[attr-defined]
    module.Image = lambda array: ("image", np.asarray(array).shape)  # type: ignore[attr-defined]
    return module
