"""Several mask groups of one model in one queue: the batch stays full across the end of one
group and the start of the next, and every mask is the one its group would get alone."""

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

CONFIG = ImageMaskConfig(max_steps=60, check_every=5, batch_size=8)


def _image_set(seed: int, n: int, labels: torch.Tensor | None = None) -> ImageSet:
    images = torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed))
    return ImageSet(
        images=images,
        labels=torch.full((n,), -1) if labels is None else labels,
        class_names=tuple(f"c{k}" for k in range(6)),
        ids=tuple(f"img{k}" for k in range(n)),  # the same ids in both groups
    )


def _plan(store: ResultsStore, config: ImageMaskConfig = CONFIG):
    """A clean group (the model's own predictions) and a second group with declared targets."""
    clean = plan_image_masks(store, "image/m-clean", _image_set(1, 11), model_name="m", config=config)
    other = _image_set(2, 9)
    targets = torch.arange(9) % 6
    second = plan_image_masks(
        store, "image/m-adversarial", other, model_name="m", config=config, targets=targets, inputs="adversarial"
    )
    return clean, second, targets


def test_groups_in_one_queue_get_the_masks_they_get_alone(tmp_path, tiny_model):
    alone = ResultsStore(tmp_path / "alone")
    clean, second, targets = _plan(alone)
    run_mask_units(alone, clean, tiny_model)
    run_mask_units(alone, second, tiny_model)

    queued = ResultsStore(tmp_path / "queued")
    clean, second, _ = _plan(queued)
    events = []
    result = run_mask_units(queued, clean + second, tiny_model, on_progress=events.append)

    assert result is not None and not result.cancelled and len(result) == 20
    assert result.ids == [u.image_id for u in clean + second]  # the stored ids, not queue positions
    for group in ("image/m-clean", "image/m-adversarial"):
        expected, got = alone.load_image_masks(group), queued.load_image_masks(group)
        assert got.ids == expected.ids
        np.testing.assert_array_equal(got.masks, expected.masks)
        for name in ("targets", "steps", "probabilities_masked"):
            np.testing.assert_array_equal(got.arrays[name], expected.arrays[name])
    np.testing.assert_array_equal(queued.load_image_masks("image/m-adversarial").arrays["targets"], targets.numpy())
    # The batch of 8 slots held both groups at once: the second group's first images started
    # in slots the first group's finished masks freed, before its last masks were done.
    mixed = [e.payload for e in events if len(set(e.payload.get("groups", ()))) == 2]
    assert mixed, "no step of the job learned masks of both groups together"
    assert {e.payload["group"] for e in events if "group" in e.payload} == {"image/m-clean", "image/m-adversarial"}


def test_a_cancelled_queue_resumes_to_the_uninterrupted_masks(tmp_path, tiny_model):
    whole = ResultsStore(tmp_path / "whole")
    clean, second, _ = _plan(whole)
    run_mask_units(whole, clean + second, tiny_model)

    resumed = ResultsStore(tmp_path / "resumed")
    clean, second, _ = _plan(resumed)
    stop = threading.Event()

    def cancel_after_first_masks(event) -> None:
        if event.payload.get("masks_done", 0) >= 8:
            stop.set()

    first = run_mask_units(resumed, clean + second, tiny_model, on_progress=cancel_after_first_masks, cancel=stop)
    assert first is not None and first.cancelled and 8 <= len(first) < 20
    clean, second, _ = _plan(resumed)  # plan again: only the unfinished ids are left
    assert len(clean) + len(second) == 20 - len(first)
    run_mask_units(resumed, clean + second, tiny_model)
    for group in ("image/m-clean", "image/m-adversarial"):
        expected, got = whole.load_image_masks(group), resumed.load_image_masks(group)
        order = [got.ids.index(i) for i in expected.ids]
        np.testing.assert_array_equal(got.masks[order], expected.masks)


def test_groups_with_different_settings_do_not_share_a_queue(tmp_path, tiny_model):
    store = ResultsStore(tmp_path / "run")
    clean = plan_image_masks(store, "image/m-clean", _image_set(1, 8), model_name="m", config=CONFIG)
    other = plan_image_masks(store, "image/m-other", _image_set(2, 8), model_name="m", config=CONFIG.replace(lam=0.5))
    with pytest.raises(ConfigError, match="different settings"):
        run_mask_units(store, clean + other, tiny_model)
    assert not store.finished_ids("image/m-clean")  # nothing half-done
