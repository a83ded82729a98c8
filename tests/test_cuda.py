"""The CUDA path: the engine on a GPU agrees with the CPU, and the batch the memory probe picks.
The GPU tests skip where there is none; the probe's arithmetic, and how it reports that it did
not run, are checked everywhere."""

import copy
import logging

import numpy as np
import pytest
import torch

from fourier_masks.core.masks.config import ImageMaskConfig, SetMaskConfig
from fourier_masks.core.masks.engine import (
    BatchChoice,
    auto_batch_size,
    batch_for_memory,
    choose_batch_size,
    learn_image_masks,
)
from fourier_masks.core.masks.set_masks import learn_set_mask

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def test_the_gpu_batch_fills_the_memory_share_and_stays_within_bounds():
    mib = 2**20
    # 1 GiB free, half of it for 1 MiB per image plus the slot state of a 64×64 image.
    assert batch_for_memory(2**30, mib, 10_000, (1, 64, 64), 0.5) == int(2**29 / (mib + 40 * 64 * 64))
    assert batch_for_memory(80 * 2**30, mib, 10_000, (1, 64, 64), 0.5) == 4096  # capped
    assert batch_for_memory(80 * 2**30, mib, 100, (1, 64, 64), 0.5) == 100  # never more than the images
    assert batch_for_memory(mib, 64 * mib, 100, (3, 128, 128), 0.5) == 1  # always at least one


def test_the_batch_choice_says_no_probe_ran_off_the_gpu(tiny_model):
    assert choose_batch_size(torch.device("cpu"), 100, tiny_model, (1, 16, 16)) == BatchChoice(
        64, False, "fixed for cpu"
    )
    no_model = choose_batch_size(torch.device("cuda"), 1000)
    assert no_model == BatchChoice(256, False, "no model or image shape to probe with")
    assert auto_batch_size(torch.device("cpu"), 10, tiny_model, (1, 16, 16)) == 10


def test_a_failed_probe_is_reported_as_not_run_and_logged(tiny_model, monkeypatch, caplog):
    """The fallback of the CUDA probe, on any machine: the probe step fails (here at its first
    CUDA call), the batch falls back to 256, the choice says the probe did not run and why,
    and a warning is logged."""
    model = copy.deepcopy(tiny_model)
    monkeypatch.setattr(model, "to", lambda device: model)  # stay on the CPU

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\n(details)")

    monkeypatch.setattr(torch.cuda, "synchronize", out_of_memory)
    with caplog.at_level(logging.WARNING, logger="fourier_masks.core.masks.engine"):
        choice = choose_batch_size(torch.device("cuda"), 10_000, model, (1, 16, 16))
        size = auto_batch_size(torch.device("cuda"), 10_000, model, (1, 16, 16))
    assert choice == BatchChoice(256, False, "probe failed: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert size == 256
    assert caplog.text.count("the GPU memory probe failed (CUDA out of memory") == 2


@pytest.mark.cuda
@needs_cuda
def test_masks_on_the_gpu_match_the_cpu(tiny_model):
    images = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    config = ImageMaskConfig(max_steps=200, check_every=10, batch_size=8)
    cpu = learn_image_masks(copy.deepcopy(tiny_model), images, config=config, device="cpu")
    gpu = learn_image_masks(copy.deepcopy(tiny_model), images, config=config, device="cuda")
    assert gpu.ids == cpu.ids
    np.testing.assert_array_equal(gpu.targets, cpu.targets)
    assert np.abs(gpu.masks - cpu.masks).max() < 1e-3  # float32 rounding of other kernels only
    assert np.abs(gpu.steps - cpu.steps).max() <= config.check_every


@pytest.mark.cuda
@needs_cuda
def test_the_memory_probe_picks_a_batch_that_runs(tiny_model):
    """The probe must really run: its silent fallback (256) is a failure here, not a batch."""
    model = copy.deepcopy(tiny_model).cuda()
    choice = choose_batch_size(torch.device("cuda"), 10_000, model, (1, 16, 16))
    assert choice.probed, f"the memory probe did not run: {choice.reason}"
    assert choice.reason.startswith("probe: ")
    batch = choice.size
    assert 256 <= batch <= 4096  # a tiny model on any CUDA GPU fits far more than the fallback
    images = torch.rand(batch, 1, 16, 16)
    result = learn_image_masks(model, images, config=ImageMaskConfig(max_steps=5, batch_size=batch), device="cuda")
    assert len(result) == batch and np.isfinite(result.masks).all()


@pytest.mark.cuda
@needs_cuda
def test_a_set_mask_learns_on_the_gpu(tiny_model):
    images = torch.rand(24, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(24) % 6
    result = learn_set_mask(
        copy.deepcopy(tiny_model), images, labels, config=SetMaskConfig(max_epochs=2, batch_size=8), device="cuda"
    )
    assert result.mask.shape == (1, 16, 16) and np.isfinite(result.mask).all()
