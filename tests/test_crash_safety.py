"""Crash safety: SIGKILL the headless study in the middle of a per-image mask job, rerun it
into the same folder, and get exactly what an uninterrupted run with the same seed gets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fourier_masks.core.runs.store import ResultsStore

ROOT = Path(__file__).resolve().parents[1]
GROUP = "image/N-clean"

STUDY = """
import sys
from fourier_masks.core.attacks import AttackConfig
from fourier_masks.core.masks import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.study import StudyConfig, run_study
from fourier_masks.core.runs import ResultsStore
from fourier_masks.core.training import TrainConfig

config = StudyConfig(
    image_size=16, train_per_class=20, val_per_class=8, augmentations=("none", "adversarial"),
    train=TrainConfig(epochs=2, batch_size=32, max_lr=3e-3, crop_scale=(1.0, 1.0), pgd=AttackConfig(steps=2)),
    set_mask=SetMaskConfig(lr=1e-2, batch_size=12, max_epochs=3),
    image_mask=ImageMaskConfig(max_steps=600, patience=30, schedule="nominal", lr=0.05, batch_size=8, check_every=5),
    images_per_class=6, stability_seeds=(), bands=8, examples=2,
)
run_study(config, ResultsStore(sys.argv[1]))
"""


def _start(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", STUDY, str(out)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _finish(out: Path) -> None:
    process = _start(out)
    _, err = process.communicate(timeout=420)
    assert process.returncode == 0, err.decode()[-2000:]


def _shards(out: Path) -> list[Path]:
    folder = out / "masks" / GROUP / "shards"
    return sorted(folder.glob("part-*.npz")) if folder.is_dir() else []


def _every_file_reads(root: Path) -> None:
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue  # leftover temporary files of a killed write are ignored by design
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                [data[k] for k in data.files]
        elif path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)


@pytest.mark.slow
@pytest.mark.timeout(900)  # three studies (killed, resumed, fresh): ~2.5 min on a quiet machine, more on a busy one
def test_sigkill_mid_mask_job_then_resume_equals_an_uninterrupted_run(tmp_path):
    killed = tmp_path / "killed"
    process = _start(killed)
    deadline = time.monotonic() + 600
    while not _shards(killed):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the per-image job never started"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    store = ResultsStore.open(killed)
    planned = len(store.mask_meta(GROUP)["ids"])
    before = {p: p.read_bytes() for p in _shards(killed)}
    done_before = store.finished_ids(GROUP)
    assert 0 < len(done_before) < planned, f"the kill missed the job ({len(done_before)}/{planned} done)"
    _every_file_reads(killed)

    _finish(killed)  # resume into the same folder
    fresh = tmp_path / "fresh"
    _finish(fresh)  # the same study, never interrupted

    # Finished masks were neither recomputed nor touched.
    for path, data in before.items():
        assert path.read_bytes() == data
    later = [p for p in _shards(killed) if p not in before]
    for path in later:
        with np.load(path) as shard:
            assert not set(shard["ids"].tolist()) & done_before
    _every_file_reads(killed)

    a, b = ResultsStore.open(killed), ResultsStore.open(fresh)
    assert a.read_json("run.json")["status"] == "complete"
    for group in b.mask_groups():
        if b.mask_meta(group)["kind"] == "image":
            np.testing.assert_array_equal(a.load_image_masks(group).masks, b.load_image_masks(group).masks)
        elif b.mask_meta(group)["kind"] == "set":
            np.testing.assert_array_equal(a.load_set_mask(group), b.load_set_mask(group))
    assert a.table_names() == b.table_names()
    for name in b.table_names():
        assert _without_timings(a.load_table(name)) == _without_timings(b.load_table(name)), name


def _without_timings(table):
    """Table content minus wall-clock columns (unit "s"), which no two runs share."""
    keep = [k for k, column in enumerate(table.columns) if column.unit != "s"]
    return [table.columns[k] for k in keep], [[row[k] for k in keep] for row in table.rows]
