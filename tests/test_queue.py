"""Several mask groups of one model in one queue: the batch stays full across the end of one
group and the start of the next, and every mask is the one its group would get alone.

The masks are learned on the trained model of ``conftest.mask_model``, whose masks stop at
different steps: a slot freed early is refilled while its neighbours learn on, and an
interrupted job leaves masks half learned (an untrained model's masks all run in lock-step
to ``max_steps``, which exercises none of this)."""

import threading

import numpy as np
import pytest
import torch

from fourier_masks.core.data.images import ImageSet
from fourier_masks.core.errors import ConfigError
from fourier_masks.core.masks.config import ImageMaskConfig
from fourier_masks.core.runs.executors import run_mask_units
from fourier_masks.core.runs.groups import plan_image_masks
from fourier_masks.core.runs.store import ResultsStore

# The published objective with a short stop rule, so masks stop between ~70 and 150 steps.
CONFIG = ImageMaskConfig(max_steps=150, patience=20, schedule="nominal", lr=0.05, check_every=5, batch_size=8)


def _image_set(source: ImageSet, start: int, n: int) -> ImageSet:
    return ImageSet(
        images=source.images[start : start + n],
        labels=torch.full((n,), -1),
        class_names=source.class_names,
        ids=tuple(f"img{k}" for k in range(n)),  # the same ids in both groups
    )


def _plan(store: ResultsStore, val: ImageSet, config: ImageMaskConfig = CONFIG):
    """A clean group (the model's own predictions) and a second group with declared targets."""
    clean = plan_image_masks(store, "image/m-clean", _image_set(val, 0, 11), model_name="m", config=config)
    other = _image_set(val, 11, 9)
    targets = torch.arange(9) % val.num_classes
    second = plan_image_masks(
        store, "image/m-adversarial", other, model_name="m", config=config, targets=targets, inputs="adversarial"
    )
    return clean, second, targets


@pytest.mark.slow
def test_groups_in_one_queue_get_the_masks_they_get_alone(tmp_path, mask_model):
    model, val = mask_model.model, mask_model.data.val
    alone = ResultsStore(tmp_path / "alone")
    clean, second, targets = _plan(alone, val)
    run_mask_units(alone, clean, model)
    run_mask_units(alone, second, model)

    queued = ResultsStore(tmp_path / "queued")
    clean, second, _ = _plan(queued, val)
    events = []
    result = run_mask_units(queued, clean + second, model, on_progress=events.append)

    assert result is not None and not result.cancelled and len(result) == 20
    assert result.ids == [u.image_id for u in clean + second]  # the stored ids, not queue positions
    for group in ("image/m-clean", "image/m-adversarial"):
        expected, got = alone.load_image_masks(group), queued.load_image_masks(group)
        assert got.ids == expected.ids
        np.testing.assert_array_equal(got.masks, expected.masks)
        for name in ("targets", "steps", "converged"):
            np.testing.assert_array_equal(got.arrays[name], expected.arrays[name])
        # The probabilities on M(x) are measured on each group of masks that finished together,
        # whose size differs between the two runs: float32 rounding of other batch sizes only.
        np.testing.assert_allclose(
            got.arrays["probabilities_masked"], expected.arrays["probabilities_masked"], atol=1e-6
        )
    np.testing.assert_array_equal(queued.load_image_masks("image/m-adversarial").arrays["targets"], targets.numpy())
    # The masks stopped at their own steps (not in lock-step), and are not all zeros.
    clean_masks = queued.load_image_masks("image/m-clean")
    steps = clean_masks.arrays["steps"]
    assert len(set(steps.tolist())) >= 5 and (steps < CONFIG.max_steps).sum() >= 5, steps
    assert (clean_masks.masks.max(axis=(1, 2, 3)) > 0.2).all()
    # The batch of 8 slots held both groups at once: the second group's first images started
    # in slots the first group's finished masks freed, before its last masks were done.
    mixed = [e.payload for e in events if len(set(e.payload.get("groups", ()))) == 2]
    assert mixed, "no step of the job learned masks of both groups together"
    assert {e.payload["group"] for e in events if "group" in e.payload} == {"image/m-clean", "image/m-adversarial"}
    # Slots were refilled one by one as masks finished: some check saw fresh and old masks together.
    assert any(
        (e.payload["steps"] == 0).any() and (e.payload["steps"] > 0).any() for e in events if "steps" in e.payload
    ), "no slot was ever refilled while others were learning"


@pytest.mark.slow
def test_a_cancelled_queue_resumes_to_the_uninterrupted_masks(tmp_path, mask_model):
    model, val = mask_model.model, mask_model.data.val
    whole = ResultsStore(tmp_path / "whole")
    clean, second, _ = _plan(whole, val)
    run_mask_units(whole, clean + second, model)

    resumed = ResultsStore(tmp_path / "resumed")
    clean, second, _ = _plan(resumed, val)
    stop = threading.Event()
    in_flight = []

    def cancel_after_first_masks(event) -> None:
        if event.payload.get("masks_done", 0) >= 8:
            stop.set()
        if "steps" in event.payload:
            in_flight[:] = event.payload["steps"].tolist()

    first = run_mask_units(resumed, clean + second, model, on_progress=cancel_after_first_masks, cancel=stop)
    assert first is not None and first.cancelled and 8 <= len(first) < 20
    # Staggered stops: the cancel caught masks half learned, which the resumed job starts again.
    assert any(0 < s < CONFIG.max_steps for s in in_flight), in_flight
    clean, second, _ = _plan(resumed, val)  # plan again: only the unfinished ids are left
    assert len(clean) + len(second) == 20 - len(first)
    run_mask_units(resumed, clean + second, model)
    for group in ("image/m-clean", "image/m-adversarial"):
        expected, got = whole.load_image_masks(group), resumed.load_image_masks(group)
        order = [got.ids.index(i) for i in expected.ids]
        np.testing.assert_array_equal(got.masks[order], expected.masks)
        np.testing.assert_array_equal(got.arrays["steps"][order], expected.arrays["steps"])
    assert len(set(whole.load_image_masks("image/m-clean").arrays["steps"].tolist())) >= 5


def test_groups_with_different_settings_do_not_share_a_queue(tmp_path, tiny_model):
    store = ResultsStore(tmp_path / "run")
    noise = ImageSet(
        images=torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1)),
        labels=torch.full((8,), -1),
        class_names=tuple(f"c{k}" for k in range(6)),
        ids=tuple(f"img{k}" for k in range(8)),
    )
    clean = plan_image_masks(store, "image/m-clean", noise, model_name="m", config=CONFIG)
    other = plan_image_masks(store, "image/m-other", noise, model_name="m", config=CONFIG.replace(lam=0.5))
    with pytest.raises(ConfigError, match="different settings"):
        run_mask_units(store, clean + other, tiny_model)
    assert not store.finished_ids("image/m-clean")  # nothing half-done
