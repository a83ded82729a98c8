"""A run folder made before the package moved into ``fourier_masks`` opens and resumes.

``tests/data/run-before-the-move`` was made by the landed main before the move (commit
0bb4ec6) with the tiny study below, cut short once model N's first per-image masks were
written: a trained model, its dataset mask, part of its clean per-image group, its
adversarial images (in the file format of that version: no labels, no attack recorded) and
the declared, empty adversarial group."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from fourier_masks.core.attacks import AttackConfig
from fourier_masks.core.masks import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.runs import ResultsStore
from fourier_masks.core.runs.adversarial import load_adversarial_images
from fourier_masks.core.study import StudyConfig, discover, run_study
from fourier_masks.core.training import TrainConfig

OLD_RUN = Path(__file__).parent / "data" / "run-before-the-move"

# The settings the old run was made with (its run.json records them; a resume must match).
CONFIG = StudyConfig(
    image_size=16,
    train_per_class=20,
    val_per_class=8,
    augmentations=("none", "adversarial"),
    train=TrainConfig(epochs=2, batch_size=32, max_lr=3e-3, crop_scale=(1.0, 1.0), pgd=AttackConfig(steps=2)),
    set_mask=SetMaskConfig(lr=1e-2, batch_size=12, max_epochs=3),
    image_mask=ImageMaskConfig(max_steps=1500, patience=30, schedule="nominal", lr=0.05, batch_size=8, check_every=5),
    images_per_class=6,
    stability_seeds=(),
    bands=8,
    examples=2,
)


@pytest.fixture
def old_run(tmp_path) -> Path:
    return Path(shutil.copytree(OLD_RUN, tmp_path / "run"))


def test_an_old_run_reads(old_run):
    store = ResultsStore.open(old_run)
    manifest = store.manifest
    assert manifest.status == "cancelled" and manifest.data is not None and manifest.data.size == 16
    assert manifest.study is not None  # run_study compares it with CONFIG before resuming
    contents = discover(store)
    assert contents.models == ["N"] and contents.dataset_masks == {"N": "set/N"}
    assert contents.clean_image_masks == {"N": "image/N-clean"}
    kept = load_adversarial_images(store, "N")
    assert kept is not None and kept.attack is None and kept.labels is None and kept.eps == pytest.approx(0.01356)
    assert 0 < len(store.load_image_masks("image/N-clean")) < 36


@pytest.mark.slow
def test_an_old_run_resumes_where_it_stopped(old_run):
    store = ResultsStore.open(old_run)
    before = store.load_image_masks("image/N-clean")
    adversarial = (old_run / "data" / "adversarial-N.npz").read_bytes()
    result = run_study(CONFIG, store)
    assert not result.cancelled and store.manifest.status == "complete"
    for group in ("image/N-clean", "image/N-adversarial", "image/A-clean"):
        assert sorted(store.finished_ids(group)) == sorted(store.mask_meta(group)["ids"]), group
    after = store.load_image_masks("image/N-clean")
    kept = after.select(before.ids)
    np.testing.assert_array_equal(kept.masks, before.masks)  # the old masks were kept, not learned again
    assert set(before.shards) <= set(after.shards)
    assert (old_run / "data" / "adversarial-N.npz").read_bytes() == adversarial  # its images, reused
    assert {"table1", "table2", "table3", "findings"} <= set(result.tables)


def test_an_old_run_opens_in_the_app(qtbot, old_run, tmp_path, monkeypatch):
    monkeypatch.setenv("FOURIER_MASKS_HOME", str(tmp_path / "home"))
    from fourier_masks.app.main import create_window

    window = create_window()
    qtbot.addWidget(window)
    window.open_run(old_run)
    assert window.message_bar.level != "error", window.message_bar.text
    assert "N" in window.workbench.models
    assert "image/N-clean" in window.workbench.store.mask_groups()
    window.runner.shutdown()
