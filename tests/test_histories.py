"""What every mask keeps besides itself: its convergence history (curves and snapshots) and,
for per-image groups, the class probabilities on x, M(x) and Mᶜ(x); and the one path from
image files to a planned group."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from fourier_masks.core.data.images import ImageSet, expand_image_paths, image_set_from_files
from fourier_masks.core.errors import BadDatasetError, OutputError
from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.engine import learn_image_masks
from fourier_masks.core.masks.inference import masked_probabilities
from fourier_masks.core.masks.results import quantised
from fourier_masks.core.masks.set_masks import learn_set_mask
from fourier_masks.core.runs.executors import run_mask_units
from fourier_masks.core.runs.groups import (
    PROBABILITIES,
    image_mask_history,
    plan_image_masks,
    save_set_mask_result,
    set_mask_history,
    unused_group_name,
)
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.spectra.fourier import complement_mask

NO_EARLY_STOP = dict(patience=10**6)


def _image_set(images: torch.Tensor) -> ImageSet:
    n = len(images)
    return ImageSet(
        images=images,
        labels=torch.full((n,), -1),
        class_names=tuple(f"c{k}" for k in range(6)),
        ids=tuple(f"img{k}" for k in range(n)),
    )


def test_history_points_every_25_steps_and_snapshots_are_the_masks_of_those_steps(tiny_model):
    """Known answer: the published schedule does not depend on ``max_steps``, so a run stopped
    at step s ends with the mask (and invariance term) the longer run had at step s."""
    model = copy.deepcopy(tiny_model).double()
    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(3)).double()
    config = ImageMaskConfig(max_steps=130, check_every=5, **NO_EARLY_STOP)
    result = learn_image_masks(model, images, config=config)
    history = result.histories[1]
    assert history.unit == "step"
    assert history.steps.tolist() == [25, 50, 75, 100, 125, 130]
    assert history.snapshot_steps.tolist() == [25, 50, 100]
    assert history.snapshots.dtype == np.uint8 and history.snapshots.shape == (3, 1, 16, 16)
    # The last point describes the final mask.
    assert history.kept_fraction[-1] == pytest.approx(result.kept_fraction[1], abs=1e-6)
    assert history.preserved[-1] == float(result.prediction_kept[1])
    for step in (50, 100):
        short = learn_image_masks(model, images, config=config.replace(max_steps=step))
        k = history.snapshot_steps.tolist().index(step)
        np.testing.assert_array_equal(history.snapshots[k], quantised(short.masks[1]))
        assert abs(history.frame(k) - short.masks[1]).max() <= 0.5 / 255 + 1e-9
        point = history.steps.tolist().index(step)
        assert history.invariance[point] == pytest.approx(short.final_loss[1], rel=1e-6)


def test_masks_learned_through_the_store_keep_history_and_probabilities(tmp_path, tiny_model):
    images = torch.rand(9, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    config = ImageMaskConfig(max_steps=60, batch_size=8, check_every=10, lam=0.5)
    store = ResultsStore(tmp_path / "run")
    units = plan_image_masks(store, "image/m-clean", _image_set(images), model_name="m", config=config)
    events = []
    run_mask_units(store, units, tiny_model, on_progress=events.append)
    assert {e.payload.get("group") for e in events if "masks" in e.payload} == {"image/m-clean"}

    stored = store.load_image_masks("image/m-clean")
    alone = learn_image_masks(tiny_model, images, config=config, ids=[f"img{k}" for k in range(9)], slots=8)
    np.testing.assert_array_equal(stored.masks, alone.masks)
    for k, image_id in enumerate(stored.ids):
        history = image_mask_history(store, "image/m-clean", image_id)
        expected = alone.histories[k]
        for name in ("steps", "invariance", "kept_fraction", "preserved", "snapshot_steps", "snapshots"):
            np.testing.assert_array_equal(getattr(history, name), getattr(expected, name), err_msg=name)
        assert (
            image_mask_history(store, "image/m-clean", image_id, stored.sources[k]).steps[-1]
            == stored.arrays["steps"][k]
        )

    expected = {
        "probabilities_x": masked_probabilities(tiny_model, images),
        "probabilities_masked": masked_probabilities(tiny_model, images, stored.masks),
        "probabilities_complement": masked_probabilities(tiny_model, images, complement_mask(stored.masks)),
    }
    assert set(PROBABILITIES) == set(expected)
    for name, probabilities in expected.items():
        np.testing.assert_allclose(stored.arrays[name], probabilities.numpy(), atol=1e-6, err_msg=name)
    kept = stored.arrays["probabilities_masked"].argmax(1) == stored.arrays["targets"]
    np.testing.assert_array_equal(kept, stored.arrays["prediction_kept"])


def test_a_group_runs_with_the_settings_it_was_declared_with(tmp_path, tiny_model):
    images = torch.rand(3, 1, 16, 16)
    store = ResultsStore(tmp_path / "run")
    declared = ImageMaskConfig(max_steps=7, **NO_EARLY_STOP)
    units = plan_image_masks(store, "image/m-x", _image_set(images), model_name="m", config=declared)
    result = run_mask_units(store, units, tiny_model)
    assert result.steps.tolist() == [7, 7, 7]
    with pytest.raises(OutputError, match="other settings"):
        plan_image_masks(store, "image/m-x", _image_set(images), model_name="m", config=declared.replace(lam=1.0))


def test_shards_of_an_older_version_mix_with_new_ones(tmp_path, tiny_model):
    """A group resumed by this version holds shards without probabilities or history: the masks
    load, statistics every shard has stay, and the older masks say they have no history."""
    images = torch.rand(4, 1, 16, 16)
    store = ResultsStore(tmp_path / "run")
    config = ImageMaskConfig(max_steps=5)
    units = plan_image_masks(store, "image/m-old", _image_set(images), model_name="m", config=config)
    store.append_image_masks("image/m-old", ["img0"], np.ones((1, 1, 16, 16)), steps=np.array([5]))
    run_mask_units(store, units[1:], tiny_model)
    stored = store.load_image_masks("image/m-old")
    assert stored.ids == ["img0", "img1", "img2", "img3"]
    assert "steps" in stored.arrays and "probabilities_x" not in stored.arrays
    assert image_mask_history(store, "image/m-old", "img0") is None
    assert image_mask_history(store, "image/m-old", "img2") is not None


def test_set_masks_keep_their_per_epoch_history(tmp_path, trained_shapes_model, tiny_shapes):
    val = tiny_shapes.val
    result = learn_set_mask(
        trained_shapes_model, val.images, val.labels, config=SetMaskConfig(lr=1e-2, batch_size=12, max_epochs=4)
    )
    store = ResultsStore(tmp_path / "run")
    save_set_mask_result(store, "set/N", result, model_name="N", class_names=val.class_names, learned_on=val.ids)
    meta = store.mask_meta("set/N")
    assert meta["model"] == "N" and meta["epochs"] == result.epochs and meta["class_names"] == list(val.class_names)
    history = set_mask_history(store, "set/N")
    assert history.unit == "epoch"
    assert history.steps.tolist() == list(range(1, result.epochs + 1))
    np.testing.assert_allclose(history.preserved, result.history["masked_accuracy"])
    np.testing.assert_allclose(history.kept_fraction, result.history["kept_fraction"])
    assert len(history.snapshots) == result.epochs
    np.testing.assert_array_equal(history.snapshots[result.epoch_kept - 1], quantised(result.mask))


def test_one_path_from_files_and_folders_to_images(tmp_path):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for path in (folder / "a.png", folder / "nested" / "b.jpg", folder / ".hidden.png", tmp_path / "a.png"):
        Image.fromarray((rng.random((20, 24)) * 255).astype(np.uint8)).save(path)
    (folder / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_text("not an image either")
    assert [p.name for p in expand_image_paths([folder])] == ["a.png", "b.jpg"]
    images, problems = image_set_from_files([folder, tmp_path / "broken.png"], 1, 16, ("x", "y"))
    assert images.ids == ("a.png", "b.jpg") and images.images.shape == (2, 1, 16, 16)
    assert images.labels.tolist() == [-1, -1] and images.class_names == ("x", "y")
    assert len(problems) == 1 and "broken.png" in problems[0]
    same_names, _ = image_set_from_files([folder / "a.png", tmp_path / "a.png"], 3, 16, ())
    assert same_names.ids == (str(folder / "a.png"), str(tmp_path / "a.png"))  # names clash: full paths
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadDatasetError, match="contains no image files"):
        expand_image_paths([tmp_path / "empty"])


def test_groups_are_named_before_their_job_starts(tmp_path, tiny_model):
    store = ResultsStore(tmp_path / "run")
    assert unused_group_name(store, "image/m-drop") == "image/m-drop1"
    plan_image_masks(
        store, "image/m-drop1", _image_set(torch.rand(2, 1, 16, 16)), model_name="m", config=ImageMaskConfig()
    )
    assert unused_group_name(store, "image/m-drop") == "image/m-drop2"
