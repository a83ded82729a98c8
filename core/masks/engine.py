"""The per-image engine: one Fourier mask per image (METHOD.md §2), many images at once.

Each image's loss depends only on its own mask and Adam is element-wise, so a batch of ``B``
masks optimised together follows exactly the trajectories of ``B`` separate runs. Each batch
slot keeps its own step count and schedule position (:mod:`.optim`), and a slot whose image
has met its stop rule (:mod:`.objectives`) is refilled with the next waiting image, so the
batch stays full. The host and device synchronise only every ``check_every`` steps; stop rules
are evaluated on the device every step and a finished slot is frozen at once, so the lag never
changes a result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.architectures import fused_for_inference
from ..models.classifier import Classifier, frozen, model_device, run_checked
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from ..spectra.fourier import apply_mask_to_spectrum
from .config import ImageMaskConfig, adam_safe, check_images, diverged
from .objectives import OBJECTIVE_CLASSES
from .optim import BatchedAdam, schedule_for
from .results import ImageMaskResult, MaskHistory, quantised

log = logging.getLogger(__name__)

# Every per-image mask keeps a thinned history: its curves every HISTORY_EVERY steps and mask
# snapshots at steps FIRST_SNAPSHOT, twice that, four times that, ...
HISTORY_EVERY = 25


FIRST_SNAPSHOT = 25


def auto_batch_size(
    device: torch.device,
    n: int,
    model: Classifier | None = None,
    image_shape: tuple[int, ...] | None = None,
    memory_fraction: float = 0.5,
) -> int:
    """How many images to learn at once.

    CPU: 64, a fixed choice (the benchmarks run at it; ``benchmarks/speed.py`` records the
    memory of batches of 8 to 512 beside it). CUDA: as many as ``memory_fraction`` of the free
    GPU memory holds, from the peak memory of a probe step of 8 images (at most 4 096);
    without a probe, 256.

    The size alone; :func:`choose_batch_size` also says whether the probe ran.
    """
    return choose_batch_size(device, n, model, image_shape, memory_fraction).size


@dataclass(frozen=True)
class BatchChoice:
    """The batch :func:`choose_batch_size` picked and how: ``probed`` is True only when a
    probe step on the GPU measured the memory per image; ``reason`` says how ``size`` was
    chosen (the probe's numbers, or why there was no probe)."""

    size: int
    probed: bool
    reason: str


def choose_batch_size(
    device: torch.device,
    n: int,
    model: Classifier | None = None,
    image_shape: tuple[int, ...] | None = None,
    memory_fraction: float = 0.5,
) -> BatchChoice:
    """:func:`auto_batch_size` with how it chose: whether the GPU memory probe ran, or why not
    (not a CUDA device, no model to probe, or the probe failed; a failed probe is logged as a
    warning and falls back to 256)."""
    if device.type != "cuda" or model is None or image_shape is None:
        size = max(1, min(n, 64 if device.type == "cpu" else 256))
        why = "no model or image shape to probe with" if device.type == "cuda" else f"fixed for {device.type}"
        return BatchChoice(size, False, why)
    try:
        net = fused_for_inference(model.to(device).net)
        probe = 8
        torch.cuda.synchronize(device)
        free, _ = torch.cuda.mem_get_info(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        mask = torch.ones((probe, 1, *image_shape[-2:]), device=device, requires_grad=True)
        x = torch.rand((probe, *image_shape), device=device)
        out = net(torch.fft.ifft2(torch.fft.fft2(x) * mask).real)
        torch.autograd.grad(out.sum(), mask)
        per_image = (torch.cuda.max_memory_allocated(device) - start) / probe
        del mask, x, out
        torch.cuda.empty_cache()
        size = batch_for_memory(free, per_image, n, image_shape, memory_fraction)
        return BatchChoice(size, True, f"probe: {per_image / 2**20:.2f} MiB per image, {free / 2**30:.1f} GiB free")
    except RuntimeError as exc:
        size = max(1, min(n, 256))
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        log.warning("the GPU memory probe failed (%s); learning %d images at once instead", first, size)
        return BatchChoice(size, False, f"probe failed: {first}")


def batch_for_memory(
    free_bytes: float, probe_bytes_per_image: float, n: int, image_shape: tuple[int, ...], memory_fraction: float
) -> int:
    """The GPU batch :func:`auto_batch_size` picks from a probe step's peak memory per image:
    as many images as ``memory_fraction`` of the free memory holds once each slot's own state
    (spectra, inputs, Adam moments: 40 bytes a pixel) is added, at most 4 096 and ``n``."""
    per_image = probe_bytes_per_image + 40 * int(np.prod(image_shape))
    return max(1, min(n, 4096, int(memory_fraction * free_bytes / per_image)))


def learn_image_masks(
    model: Classifier,
    images: torch.Tensor,
    *,
    config: ImageMaskConfig = ImageMaskConfig(),
    targets: torch.Tensor | None = None,
    ids: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    on_progress: ProgressCallback | None = None,
    on_result: Callable[[ImageMaskResult], None] | None = None,
    cancel: CancelToken | None = None,
    slots: int | None = None,
    keep_masks: bool = True,
) -> ImageMaskResult:
    """Learn one mask per image, many at once.

    Args:
        model: the frozen classifier (its state is restored afterwards).
        images: ``(N, C, H, W)`` in [0, 1].
        targets: classes whose loss the mask must preserve; default (or -1 for an image):
            the model's own prediction (so misclassified and adversarial images get masks).
        ids: a name per image (default ``"0" … "N-1"``); results are keyed by it.
        on_progress: receives stage ``image-masks`` events counting optimiser steps out of
            the step budget ``N × max_steps``, and for the ETA batch steps taken and expected
            to be left (see :func:`_report`); ``masks_done`` in the payload counts finished
            masks, ``expected_steps`` the steps a mask is expected to take.
        on_result: called with each group of finished masks as soon as they are done, so a
            caller can save them before the job ends.
        slots: images learned at once; default ``min(config.batch_size or automatic, N)``.
            Every forward pass runs on all slots, and with a fixed slot count an image's
            mask does not depend on which images share its batch (bit for bit on CPU), so a
            resumed job that keeps the first run's slot count reproduces it exactly.
        keep_masks: False drops each finished group of masks after ``on_result`` (the
            caller stores them), keeping memory flat over very long jobs; the returned
            result then has ``masks=None``.

    Returns the masks in input order; when cancelled, the finished ones only. The masks are
    learned in the images' floating-point type (float32 normally; float64 for exact checks,
    with a float64 model).
    """
    check_images(images, model)
    n = images.shape[0]
    ids = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(ids) != n:
        raise ConfigError(f"{len(ids)} ids given for {n} images")
    if len(set(ids)) != n:
        raise ConfigError("image ids must be unique")
    device = torch.device(device) if device is not None else model_device(model)
    c, h, w = images.shape[1:]
    mask_shape = (c if config.per_channel else 1, h, w)
    size = slots or min(config.batch_size, max(n, 1)) or slot_count(auto_batch_size(device, n, model, (c, h, w)), n)
    reporter = ProgressReporter("image-masks", n * config.max_steps, on_progress, cancel)
    finished_parts: list[ImageMaskResult] = []
    with frozen(model), _enough_memory(size, (c, h, w)):
        model.to(device)
        if targets is not None:
            targets = torch.as_tensor(targets, dtype=torch.int64)
            if targets.shape != (n,):
                raise ConfigError(f"expected {n} targets, got shape {tuple(targets.shape)}")
        batch = SlotEngine(
            fused_for_inference(model.net), model.normalization, images, targets, ids, config, size, device
        )
        batch.admit()
        batch_steps = 0
        while batch.learning():
            for _ in range(config.check_every):
                batch.step()
            batch_steps += config.check_every
            batch.raise_if_diverged()
            batch.record_history()
            part = batch.harvest()
            if part is not None:
                if on_result is not None:
                    on_result(part)
                if not keep_masks:
                    part.masks, part.histories = None, None
                finished_parts.append(part)
            if reporter.cancelled:
                break
            batch.admit()
            if not batch.waiting:
                batch.compact()
            if reporter.wants_payload:
                _report(reporter, batch, n, batch_steps)
        done_count = batch.done
        cancelled = reporter.cancelled and done_count < n
    result = (
        ImageMaskResult.concatenate(finished_parts, config)
        if finished_parts
        else ImageMaskResult.empty(mask_shape, config)
    )
    if len(result):
        position = {image_id: k for k, image_id in enumerate(ids)}
        result = result.subset(np.argsort([position[i] for i in result.ids], kind="stable"))
    result.cancelled = cancelled
    reporter.report(
        done_count * config.max_steps if cancelled else reporter.total,
        f"cancelled: {done_count}/{n} masks" if cancelled else "done",
        work_done=batch_steps,
        work_left=0,
        masks_done=done_count,
    )
    return result


@contextmanager
def _enough_memory(size: int, image_shape: tuple[int, int, int]) -> Iterator[None]:
    """Turn running out of memory for ``size`` slots (the slot tensors, or one network pass
    over them) into an error that says to learn fewer masks at once."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        text = str(exc)
        if not isinstance(exc, (MemoryError, torch.OutOfMemoryError)) and "allocate memory" not in text:
            raise
        c, h, w = image_shape
        raise ConfigError(
            f"not enough memory to learn {size} masks of {c}×{h}×{w} images at once; give a smaller batch size "
            "(batch_size; 0 sizes it to the free memory)"
        ) from None


def _report(reporter: ProgressReporter, batch: SlotEngine, n: int, batch_steps: int) -> None:
    """Progress in optimiser steps: a finished mask counts as its whole step budget, a mask
    still learning as the steps it has taken, so the bar moves with every step even while no
    mask finishes. The ETA's work is counted in batch steps (one step of every slot, whose
    time is about constant): those taken, and those expected to be left
    (:func:`forecast_stops`, :func:`batch_steps_left`), an upper bound until a mask stops."""
    payload = batch.progress()
    if payload is None:
        return
    max_steps = batch.config.max_steps
    forecast = forecast_stops(np.asarray(batch.stop_steps), payload["steps"], max_steps)
    free = len(batch.slot_item) - len(payload["steps"])
    left = batch_steps_left(forecast.residual(payload["steps"]), free, n - batch.next_item, forecast.mean)
    reporter.report(
        batch.done * max_steps + int(payload["steps"].sum()),
        f"{batch.done}/{n} masks",
        work_done=batch_steps,
        work_left=left,
        left_is_bound=forecast.bound,
        masks_done=batch.done,
        batch_steps=batch_steps,
        expected_steps=forecast.mean,
        **payload,
    )


@dataclass(frozen=True)
class StopForecast:
    """When masks are expected to stop: ``survival[t]``, the chance a mask has not stopped
    after ``t`` steps (``t = 0 … max_steps``), ``mean`` its expected stop step and ``bound``
    True while that is only the cap (no mask has stopped yet)."""

    survival: np.ndarray
    mean: float
    bound: bool

    def residual(self, steps: np.ndarray) -> np.ndarray:
        """The expected steps still to come of masks learning at ``steps``."""
        steps = np.clip(np.asarray(steps, dtype=np.int64), 0, len(self.survival) - 1)
        after = np.cumsum(self.survival[::-1])[::-1]  # Σ_{u ≥ t} S(u): expected steps beyond t
        at = self.survival[steps]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(at > 0, after[steps] / at, 0.0)


def forecast_stops(stopped: np.ndarray, learning: np.ndarray, max_steps: int) -> StopForecast:
    """How many steps masks take, from those that stopped (their stop steps) and those still
    learning (their steps so far).

    The rule the ETA rests on: before any mask has stopped, every mask is expected to run to
    ``max_steps`` and the forecast is an upper bound. After, the chance of a mask still
    learning after ``t`` steps is the Kaplan–Meier estimate, which counts each learning mask
    as sure to stop later than its current step: the masks that stop first are the quick
    ones, and the median of those alone would promise far too early an end. Beyond the
    furthest step seen, the chance falls linearly to 0 at ``max_steps`` (every mask stops
    there). A straggler past its expected stop then has few steps left, so the ETA does not
    rise for it."""
    stopped = np.clip(np.asarray(stopped, dtype=np.int64), 0, max_steps)
    learning = np.clip(np.asarray(learning, dtype=np.int64), 0, max_steps)
    if len(stopped) == 0:
        cap = np.ones(max_steps + 1)
        cap[-1] = 0.0
        return StopForecast(cap, float(max_steps), True)
    events = np.bincount(stopped, minlength=max_steps + 1).astype(float)
    censored = np.bincount(learning, minlength=max_steps + 1).astype(float)
    at_risk = np.cumsum((events + censored)[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(at_risk > 0, events / at_risk, 0.0)
    survival = np.cumprod(1.0 - hazard)
    last = int(max(stopped.max(), learning.max() if len(learning) else 0))
    if last < max_steps:
        t = np.arange(last + 1, max_steps + 1)
        survival[last + 1 :] = survival[last] * (max_steps - t) / (max_steps - last)
    survival[-1] = 0.0
    return StopForecast(survival, float(survival[:-1].sum()), False)


def batch_steps_left(residuals: np.ndarray, free_slots: int, waiting: int, per_mask: float) -> float:
    """Batch steps until the queue is empty if each learning mask takes its expected
    ``residuals`` and each of the ``waiting`` images ``per_mask`` steps, a freed slot taking
    the next image (as :meth:`SlotEngine.admit` does).

    A slot freed after ``r`` steps starts images at ``r``, ``r + per_mask``, …; the images
    take the ``waiting`` earliest of these starts over all slots, so the last one starts at
    the ``waiting``-th earliest, found by bisection (a queue of any length costs the same)."""
    free_at = np.concatenate([np.asarray(residuals, dtype=float), np.zeros(max(0, free_slots))])
    if len(free_at) == 0:
        return 0.0
    if waiting <= 0 or per_mask <= 0:
        return float(free_at.max())

    def started(x: float) -> np.ndarray:
        """Per slot, how many images it has started by ``x`` (a hair of slack for rounding)."""
        return np.maximum(0.0, np.floor((x - free_at) / per_mask + 1e-9) + 1)

    low, high = float(free_at.min()), float(free_at.min()) + per_mask * waiting
    for _ in range(64):
        middle = (low + high) / 2
        low, high = (low, middle) if started(middle).sum() >= waiting else (middle, high)
    counts = started(high)
    last_start = float((free_at + (counts - 1) * per_mask)[counts > 0].max())
    return max(float(free_at.max()), last_start + per_mask)


class SlotEngine:
    """The per-image engine: ``B`` slots, each learning one image's mask, on the device.

    :func:`learn_image_masks` drives it as the algorithm reads: :meth:`admit` waiting images
    into free slots, :meth:`step` every slot ``check_every`` times, :meth:`harvest` the
    finished masks (freeing their slots), and once no image waits, :meth:`compact` the batch
    to the slots still learning. Stop rules run on the device inside :meth:`step`, so the host
    syncs only at harvests. Every tensor listed in ``SLOT_TENSORS`` has one row per slot, and
    so has the objective's stop-rule state (:mod:`.objectives`).
    """

    SLOT_TENSORS = (
        "mask",
        "keeping_mask",
        "inputs",
        "spectra",
        "targets",
        "clean_loss",
        "active",
        "finished",
        "converged",
        "last_loss",
        "last_kept",
        "last_pred_kept",
        "diverged_at",
        "diverged_loss",
    )

    def __init__(
        self,
        net: torch.nn.Module,
        normalization,
        images: torch.Tensor,
        targets: torch.Tensor | None,
        ids: list[str],
        config: ImageMaskConfig,
        size: int,
        device: torch.device,
    ) -> None:
        self.net, self.normalization, self.images, self.given_targets = net, normalization, images, targets
        self.ids, self.config, self.device = ids, config, device
        self.schedule = schedule_for(config)
        self.dtype = dtype = images.dtype if images.is_floating_point() else torch.float32
        c, h, w = images.shape[1:]
        mask_shape = (c if config.per_channel else 1, h, w)
        complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self.mask = torch.ones((size, *mask_shape), device=device, dtype=dtype)
        self.adam = BatchedAdam(self.mask)
        # The last mask that kept the target, only for ImageMaskConfig.fallback_to_last_kept.
        self.keeping_mask = (
            torch.ones((size, *mask_shape), device=device, dtype=dtype) if config.fallback_to_last_kept else None
        )
        self.inputs = torch.zeros((size, c, h, w), dtype=dtype, device=device)  # normalised images
        self.spectra = torch.zeros((size, c, h, w), dtype=complex_dtype, device=device)
        self.targets = torch.zeros(size, dtype=torch.int64, device=device)
        self.clean_loss = torch.zeros(size, device=device, dtype=dtype)
        self.active = torch.zeros(size, dtype=torch.bool, device=device)
        self.finished = torch.zeros(size, dtype=torch.bool, device=device)
        self.converged = torch.zeros(size, dtype=torch.bool, device=device)
        self.last_loss = torch.zeros(size, device=device, dtype=dtype)
        self.last_kept = torch.ones(size, device=device, dtype=dtype)
        self.last_pred_kept = torch.ones(size, dtype=torch.bool, device=device)
        # The step at which a slot's loss, gradient or mask first became NaN or Inf (0 = never),
        # and its loss then; checked on the host before anything is recorded or harvested.
        self.diverged_at = torch.zeros(size, dtype=torch.int64, device=device)
        self.diverged_loss = torch.zeros(size, device=device, dtype=dtype)
        self.objective = OBJECTIVE_CLASSES[config.objective](config, size, device, dtype)
        self.slot_item = [-1] * size  # index of the image in each slot, -1 = empty
        self.next_item = 0  # the first image not yet admitted
        self.done = 0
        self.stop_steps: list[int] = []  # the steps each finished mask took, for the ETA
        self.history = HistoryRecorder()

    @property
    def waiting(self) -> bool:
        return self.next_item < len(self.ids)

    def learning(self) -> bool:
        return bool(self.active.any())

    def occupied(self) -> list[int]:
        return [s for s, item in enumerate(self.slot_item) if item >= 0]

    def admit(self) -> None:
        """Put the next waiting images into the empty slots and start their masks."""
        free = [s for s, item in enumerate(self.slot_item) if item < 0]
        take = list(range(self.next_item, min(len(self.ids), self.next_item + len(free))))
        slots = free[: len(take)]
        if not slots:
            return
        self.next_item += len(take)
        index = torch.tensor(slots, device=self.device)
        self.inputs[index] = self.normalization(self.images[take].to(device=self.device, dtype=self.dtype))
        with torch.no_grad():
            # All slots, so every image's numbers come from a batch of the same size.
            logits = run_checked(self.net, self.inputs, "on the clean images")[index]
            y = logits.argmax(dim=1)
            if self.given_targets is not None:  # -1: the model's own prediction
                given = self.given_targets[take].to(self.device)
                y = torch.where(given >= 0, given, y)
            self.clean_loss[index] = F.cross_entropy(logits, y, reduction="none")
        self.spectra[index] = torch.fft.fft2(self.inputs[index])
        self.targets[index] = y
        self.adam.reset(index)
        if self.keeping_mask is not None:
            self.keeping_mask[index] = 1.0
        self.active[index] = True
        self.finished[index] = False
        self.converged[index] = False
        self.diverged_at[index] = 0
        self.objective.reset(index)
        for slot, item in zip(slots, take):
            self.slot_item[slot] = item
            self.history.start(item)

    def step(self) -> None:
        """One optimiser step for every slot; stop rules are applied on the device."""
        config = self.config
        mask = self.mask.detach().requires_grad_(True)
        logits = self.net(apply_mask_to_spectrum(self.spectra, mask, config.component))
        ce = F.cross_entropy(logits, self.targets, reduction="none")
        kept = mask.mean(dim=(1, 2, 3))
        loss, term = self.objective.loss(ce, self.clean_loss, mask, kept)
        (grad,) = torch.autograd.grad(loss.sum(), mask)
        with torch.no_grad():
            active = self.active
            pred_kept = logits.argmax(dim=1) == self.targets
            if self.keeping_mask is not None:
                keep_view = (active & pred_kept).view(-1, 1, 1, 1)
                self.keeping_mask = torch.where(keep_view, self.mask, self.keeping_mask)
            lr, beta1 = self.schedule(self.adam.steps)
            self.adam.step(grad, lr, beta1, active)
            self.mask.clamp_(0.0, 1.0)
            steps = self.adam.steps
            loss, term, kept = loss.detach(), term.detach(), kept.detach()
            finite = torch.isfinite(loss) & adam_safe(grad) & torch.isfinite(self.mask).flatten(1).all(1)
            first = active & ~finite & (self.diverged_at == 0)
            self.diverged_at = torch.where(first, steps, self.diverged_at)
            self.diverged_loss = torch.where(first, loss, self.diverged_loss)
            rule = self.objective.rule_met(term, loss, kept, pred_kept, steps, active)
            rule = rule & (steps >= config.min_steps)
            stop = active & (rule | (steps >= config.max_steps))
            self.converged |= active & rule
            self.finished |= stop
            self.last_loss = torch.where(active, term, self.last_loss)
            self.last_kept = torch.where(active, kept, self.last_kept)
            self.last_pred_kept = torch.where(active, pred_kept, self.last_pred_kept)
            self.active &= ~stop

    def raise_if_diverged(self) -> None:
        """Raise :func:`~.config.diverged` for the first slot whose optimisation produced NaN
        or Inf (one host sync); admitting an image checked the model on it first, so the
        model is finite on the clean image and the settings are to blame."""
        slots = [s for s in torch.nonzero(self.diverged_at > 0).flatten().tolist() if self.slot_item[s] >= 0]
        if not slots:
            return
        slot = slots[0]
        step, loss = int(self.diverged_at[slot]), float(self.diverged_loss[slot])
        what = f"the loss became {loss:g}" if not np.isfinite(loss) else "the loss's gradient overflowed"
        raise diverged(self.config, f"{what} at step {step} of image {self.ids[self.slot_item[slot]]!r}")

    def record_history(self) -> None:
        """Add the occupied slots' curves (and due snapshots) to their masks' histories."""
        occupied = self.occupied()
        if not occupied:
            return
        index = torch.tensor(occupied, device=self.device)
        with torch.no_grad():
            rows = (
                torch.stack(
                    [
                        self.adam.steps.to(self.dtype),
                        self.last_loss,
                        self.last_kept,
                        self.last_pred_kept.to(self.dtype),
                    ],
                    1,
                )[index]
                .cpu()
                .numpy()
            )
        items = [self.slot_item[s] for s in occupied]
        due = self.history.add(items, rows)
        if due:
            self.history.add_snapshots([items[k] for k in due], rows[due, 0], self.mask[index[due]])

    def harvest(self) -> ImageMaskResult | None:
        """Move the finished slots' masks to the host and free their slots (one host sync)."""
        finished = [s for s in torch.nonzero(self.finished).flatten().tolist() if self.slot_item[s] >= 0]
        if not finished:
            return None
        index = torch.tensor(finished, device=self.device)
        mask = self.mask[index]
        with torch.no_grad():
            # Measure whether the final mask itself keeps the target (the stop rule saw the mask
            # before its last update); only the opt-in fallback swaps a mask that does not.
            def keeps(candidate: torch.Tensor) -> torch.Tensor:
                logits = self.net(apply_mask_to_spectrum(self.spectra[index], candidate, self.config.component))
                return logits.argmax(dim=1) == self.targets[index]

            pred_kept = keeps(mask)
            if self.keeping_mask is not None and not pred_kept.all():
                mask = torch.where(pred_kept.view(-1, 1, 1, 1), mask, self.keeping_mask[index])
                pred_kept = keeps(mask)
        items = [self.slot_item[s] for s in finished]
        steps = self.adam.steps[index].cpu().numpy()
        final_loss = self.last_loss[index].cpu().numpy()
        kept_fraction = mask.mean(dim=(1, 2, 3)).cpu().numpy()
        prediction_kept = pred_kept.cpu().numpy()
        part = ImageMaskResult(
            ids=[self.ids[i] for i in items],
            masks=mask.float().cpu().numpy(),
            targets=self.targets[index].cpu().numpy(),
            steps=steps,
            converged=self.converged[index].cpu().numpy(),
            prediction_kept=prediction_kept,
            kept_fraction=kept_fraction,
            final_loss=final_loss,
            config=self.config,
            histories=[
                self.history.finish(item, int(steps[k]), final_loss[k], kept_fraction[k], prediction_kept[k])
                for k, item in enumerate(items)
            ],
        )
        self.finished[index] = False
        self.active[index] = False
        for s in finished:
            self.slot_item[s] = -1
        self.done += len(finished)
        self.stop_steps.extend(int(k) for k in steps)
        return part

    def compact(self) -> None:
        """Drop free slots as soon as 8 or more are free (call once no image is waiting).

        The batch shrinks to the occupied slots rounded up to a multiple of 8: on the CPU
        kernels we use, an image's numbers are the same bit for bit in any batch whose size is
        a multiple of 8 (odd sizes may differ in the last bit), so shrinking keeps a resumed
        job exact. Copying the slot state costs far less than one network pass over the
        freed slots."""
        keep = self.occupied()
        size = max(8, -(-len(keep) // 8) * 8)
        if not keep or size >= len(self.slot_item):
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.device)

        def smaller(value: torch.Tensor) -> torch.Tensor:
            rows = value.new_zeros((size, *value.shape[1:]))
            rows[: len(keep)] = value[index]
            return rows

        for name in self.SLOT_TENSORS:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, smaller(value))
        self.objective.compact(smaller)
        adam = BatchedAdam(self.mask, self.adam.beta2, self.adam.eps)
        adam.exp_avg, adam.exp_avg_sq, adam.steps = (
            smaller(self.adam.exp_avg),
            smaller(self.adam.exp_avg_sq),
            smaller(self.adam.steps),
        )
        self.adam = adam
        self.slot_item = [self.slot_item[k] for k in keep] + [-1] * (size - len(keep))

    def progress(self) -> dict[str, Any] | None:
        """The occupied slots' masks and curves, for a live view (one host sync)."""
        occupied = self.occupied()
        if not occupied:
            return None
        index = torch.tensor(occupied, device=self.device)
        return dict(
            ids=[self.ids[self.slot_item[s]] for s in occupied],
            masks=self.mask[index].float().cpu().numpy(),
            steps=self.adam.steps[index].cpu().numpy(),
            invariance=self.last_loss[index].cpu().numpy(),
            kept_fraction=self.last_kept[index].cpu().numpy(),
            prediction_kept=self.last_pred_kept[index].cpu().numpy(),
        )


class HistoryRecorder:
    """Thinned convergence histories of the masks being learned (host side): a point of the
    curves every :data:`HISTORY_EVERY` steps (at the first harvest on or after it) and a mask
    snapshot at steps 25, 50, 100, 200, … (doubling), so a 20 000-step mask keeps about 800
    points and 10 snapshots."""

    def __init__(self) -> None:
        self.points: dict[int, list[tuple[float, float, float, float]]] = {}
        self.snapshots: dict[int, list[tuple[int, np.ndarray]]] = {}
        self.next_point: dict[int, int] = {}
        self.next_snapshot: dict[int, int] = {}

    def start(self, item: int) -> None:
        self.points[item], self.snapshots[item] = [], []
        self.next_point[item], self.next_snapshot[item] = HISTORY_EVERY, FIRST_SNAPSHOT

    def add(self, items: list[int], rows: np.ndarray) -> list[int]:
        """Record the rows (step, invariance, kept, prediction kept) that are due; return the
        positions whose mask snapshot is due."""
        due = []
        for k, (item, row) in enumerate(zip(items, rows)):
            step = int(row[0])
            if step >= self.next_point[item]:
                self.points[item].append(tuple(float(v) for v in row))  # type: ignore[arg-type]
                self.next_point[item] = (step // HISTORY_EVERY + 1) * HISTORY_EVERY
            if step >= self.next_snapshot[item]:
                due.append(k)
                while self.next_snapshot[item] <= step:
                    self.next_snapshot[item] *= 2
        return due

    def add_snapshots(self, items: list[int], steps: np.ndarray, masks: torch.Tensor) -> None:
        frames = quantised(masks)
        for item, step, frame in zip(items, steps, frames):
            self.snapshots[item].append((int(step), frame))

    def finish(self, item: int, step: int, invariance, kept, prediction_kept) -> MaskHistory:
        points = self.points.pop(item)
        if not points or int(points[-1][0]) != step:
            points.append((step, float(invariance), float(kept), float(prediction_kept)))
        snapshots = self.snapshots.pop(item)
        del self.next_point[item], self.next_snapshot[item]
        table = np.asarray(points, dtype=np.float64).reshape(-1, 4)
        return MaskHistory(
            unit="step",
            steps=table[:, 0].astype(np.int32),
            invariance=table[:, 1].astype(np.float32),
            kept_fraction=table[:, 2].astype(np.float32),
            preserved=table[:, 3].astype(np.float32),
            snapshot_steps=np.array([s for s, _ in snapshots], dtype=np.int32),
            snapshots=np.stack([f for _, f in snapshots]) if snapshots else np.zeros((0, 1, 1, 1), np.uint8),
        )


def slot_count(batch: int, n: int) -> int:
    """Slots for ``n`` images in batches of at most ``batch``: a multiple of 8 (see
    :meth:`SlotEngine.compact`; a few empty slots cost less than a resumed job that is not
    exact), or ``n`` itself below 8, where padding to 8 slots would make every step compute
    8 images for fewer, and the batch never shrinks, so resuming stays exact."""
    if n < 8:
        return max(1, n)
    return -(-min(batch, n) // 8) * 8
