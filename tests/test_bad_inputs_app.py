"""Damaged and busy runs in the desktop app: the damage is named, the rest stays usable, and
nothing is written beside it; a run another process writes into refuses the app's jobs; a run
whose ``run.json`` is wrong does not stop the app from starting."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fourier_masks.core.cli import main as cli_main
from fourier_masks.core.models.checkpoints import save_checkpoint

pytest.importorskip("PySide6")


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory, trained_shapes_model) -> Path:
    """A run with one model, a group of three per-image masks and a set mask."""
    folder = tmp_path_factory.mktemp("learned")
    checkpoint = save_checkpoint(copy.deepcopy(trained_shapes_model), folder / "N.pt")
    images = []
    for k in range(3):
        path = folder / f"img{k}.png"
        Image.fromarray((np.random.default_rng(k).random((16, 16)) * 255).astype(np.uint8)).save(path)
        images.append(path)
    run = folder / "run"
    common = ["--model", checkpoint, "--out", run, "--quiet"]
    assert cli_main([str(a) for a in ["masks", "image", "--images", *images, "--max-steps", "3", *common]]) == 0
    data = ["--data", "builtin", "--size", "16", "--train-per-class", "3", "--val-per-class", "2"]
    assert cli_main([str(a) for a in ["masks", "set", *data, "--max-epochs", "1", *common]]) == 0
    return run


@pytest.fixture
def run_copy(learned_run, tmp_path) -> Path:
    import shutil

    target = tmp_path / "run"
    shutil.copytree(learned_run, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # mask files are read-only on disk
    return target


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    from fourier_masks.app.main import create_window

    win = create_window()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.runner.shutdown()


def test_a_damaged_group_is_named_and_the_rest_stays_usable(run_copy, window):
    (run_copy / "masks" / "image" / "N-clean" / "meta.json").write_text("{junk")
    window.open_run(run_copy)
    bar = window.message_bar
    assert bar.level == "warning" and "read-only" in bar.text and "N-clean/meta.json is damaged" in bar.text, bar.text
    assert window.workbench.image_groups() == []  # the damaged group is not offered ...
    assert set(window.workbench.set_masks()) == {"N"}  # ... and the set mask is still shown


def test_a_truncated_inputs_file_is_named_not_drawn_blank(run_copy, window):
    inputs = run_copy / "masks" / "image" / "N-clean" / "inputs.npz"
    inputs.write_bytes(inputs.read_bytes()[:200])
    window.open_run(run_copy)
    assert window.message_bar.level == "warning" and "inputs.npz is damaged" in window.message_bar.text
    assert window.workbench.image_tensor("image/N-clean", "img0.png") is None


def test_a_damaged_shard_is_said_and_the_run_stays_writable(run_copy, window):
    shard = next((run_copy / "masks" / "image" / "N-clean" / "shards").iterdir())
    shard.write_bytes(shard.read_bytes()[:300])
    window.open_run(run_copy)
    assert window.message_bar.level == "warning" and "learned again" in window.message_bar.text
    assert not window.workbench.read_only  # its images are relearned when the group is resumed
    assert window.workbench.group_masks("image/N-clean") is None  # no finished mask left, and no damage claimed
    assert not window.workbench.damage


def test_a_damaged_run_is_not_written_into(run_copy, window, qtbot):
    (run_copy / "masks" / "set" / "N" / "mask.npy").write_bytes(b"\x93NUMPY garbage")
    window.open_run(run_copy)
    assert window.workbench.read_only
    before = sorted(str(p.relative_to(run_copy)) for p in run_copy.rglob("*"))
    window.controller.compute_report()
    assert window.message_bar.level == "error" and "open read-only" in window.message_bar.text
    assert not window.runner.busy
    assert sorted(str(p.relative_to(run_copy)) for p in run_copy.rglob("*")) == before


def test_a_job_on_a_run_another_process_writes_is_refused(run_copy, window, qtbot):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from fourier_masks.core.runs.lock import lock_run\n"
            "hold = lock_run(sys.argv[1], 'fourier-masks train (the test)')\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
            str(run_copy),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        window.open_run(run_copy)
        with qtbot.waitSignal(window.runner.failed, timeout=60_000):
            window.controller.compute_report()
        text = window.message_bar.text
        assert window.message_bar.level == "error" and f"pid {holder.pid}" in text, text
    finally:
        holder.kill()
        holder.wait()
    with qtbot.waitSignal(window.runner.finished, timeout=120_000):  # the holder is gone: the job runs
        window.controller.compute_report()


def test_the_app_starts_on_a_run_whose_run_json_has_wrong_types(run_copy, qtbot, tmp_path, monkeypatch):
    manifest = json.loads((run_copy / "run.json").read_text())
    manifest["data"]["size"] = "16"
    (run_copy / "run.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    from fourier_masks.app.main import create_window

    window = create_window(str(run_copy))
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.message_bar.level == "error" and "data.size should be int" in window.message_bar.text
        assert window.workbench.store is None
    finally:
        window.runner.shutdown()


def test_a_command_line_job_is_refused_while_an_app_job_writes(run_copy, window, qtbot):
    import threading

    window.open_run(run_copy)
    running, release = threading.Event(), threading.Event()

    def job(store, on_progress, cancel):  # stands for any job the app runs on the open run
        running.set()
        release.wait(60)

    window.controller._start("hold the run", job, store=window.workbench.store)
    try:
        assert running.wait(30)
        refused = subprocess.run(
            [sys.executable, "-m", "fourier_masks", "report", "--run", str(run_copy)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        release.set()
    assert refused.returncode == 2, refused.stderr
    assert "the Fourier Masks app (hold the run)" in refused.stderr and refused.stderr.count("error:") == 1
