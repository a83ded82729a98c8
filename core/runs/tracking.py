"""Tracking: a job's progress logged to TensorBoard or Weights & Biases while it runs.

A :class:`ProgressTracker` is one more progress callback (:class:`~fourier_masks.core.progress.Progress`),
so anything that reports progress can be tracked without knowing it: the curves in each
event's payload become scalars, the masks in it (``mask``: one set mask; ``masks``: the masks
being learned, unshifted DFT layout) become centred images, at most one every
``image_every_s`` seconds per job and always the last one of each job; the options of the
job are written once as its hyper-parameters.

Each job gets a run of its own (a sub-folder in TensorBoard, a key prefix in W&B), named after
its stage and model (``train-N``, ``set-mask-N``, ``set-mask-N-2``, ``class-mask-cat-N``, ``image-masks``), so
the curves of the models trained one after another overlay in one chart instead of running on
from each other. The x axis of a job is its progress count (:attr:`Progress.done`): batches
for training and set masks, optimiser steps of all masks for per-image masks.

TensorBoard (``torch.utils.tensorboard``) and wandb are imported only when a tracker of their
kind is opened; ``docs/tracking.md`` lists what is logged under which tag.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError, FourierMasksError, OutputError
from ..progress import Progress, ProgressCallback
from ..spectra import centred

__all__ = [
    "TRACKER_KINDS",
    "ProgressTracker",
    "TrackingTarget",
    "fan_out",
    "open_tracker",
]

# kind → (what follows the colon, the module it needs, the package that installs it)
TRACKER_KINDS: dict[str, tuple[str, str, str]] = {
    "tensorboard": ("DIR", "tensorboard", "tensorboard"),
    "wandb": ("PROJECT", "wandb", "wandb"),
}
TRACKING_EXTRA = "fourier-masks[tracking]"  # installs TensorBoard
IMAGE_EVERY_S = 30.0  # per job: a live mask image at most this often
MAX_IMAGES_PER_JOB = 200  # beyond it, only each job's last mask
MAX_TILES = 16  # masks learned at once shown in one image
MASK_KEYS = ("mask", "masks")


def _forms() -> str:
    return " or ".join(f"{kind}:{where}" for kind, (where, _, _) in TRACKER_KINDS.items())


@dataclass(frozen=True)
class TrackingTarget:
    """Where to log: ``tensorboard:DIR`` (event files under DIR) or ``wandb:PROJECT``."""

    kind: str
    where: str

    @classmethod
    def parse(cls, text: str) -> TrackingTarget:
        kind, sep, where = text.partition(":")
        if not sep or kind not in TRACKER_KINDS or not where.strip():
            quoted = repr(text if len(text) <= 40 else f"{text[:40]}…")
            raise ConfigError(f"{quoted} is not a tracker; give {_forms()}")
        return cls(kind, where)

    def check_installed(self) -> None:
        """Refuse a tracker whose library is missing, before any work starts (without importing it)."""
        _, module, package = TRACKER_KINDS[self.kind]
        if sys.modules.get(module) is None and importlib.util.find_spec(module) is None:
            extra = f" (or pip install '{TRACKING_EXTRA}')" if self.kind == "tensorboard" else ""
            raise ConfigError(
                f"{self} needs {package}, which is not installed; install it with: pip install {package}{extra}"
            )

    def __str__(self) -> str:
        return f"{self.kind}:{self.where}"


class TrackingSink(Protocol):
    """What a tracker writes to: TensorBoard event files or a W&B run."""

    def scalars(self, run: str, step: int, values: Mapping[str, float]) -> None: ...

    def image(self, run: str, tag: str, step: int, image: np.ndarray) -> None:
        """``image``: ``(C, H, W)`` floats in [0, 1], C = 1 or 3."""

    def end_run(self, run: str) -> None: ...

    def finish(self, final: Mapping[str, float], outcome: str) -> None: ...


@dataclass
class _Job:
    """One job seen in the events: its run name, how far it got and what it last showed."""

    key: str
    run: str
    group: str  # the tag prefix, shared by the jobs of one kind (``class-mask`` for every class)
    done: float = -math.inf
    finished: bool = False
    images: int = 0
    image_at: float | None = None
    pending: tuple[int, np.ndarray] | None = None  # the latest mask image not logged yet
    last: dict[str, float] = field(default_factory=dict)
    logged: dict[str, tuple[int, float]] = field(default_factory=dict)  # each tag's last (step, value)


class ProgressTracker:
    """A progress callback that logs to a :class:`TrackingSink`; :meth:`close` ends it.

    A job is the events of one stage (and one ``model`` where the payload names it) whose
    count never goes back: a count that goes back, or an event after the job finished, starts
    the next job of that stage.
    """

    def __init__(
        self,
        sink: TrackingSink,
        *,
        image_every_s: float = IMAGE_EVERY_S,
        max_images_per_job: int = MAX_IMAGES_PER_JOB,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.image_every_s = image_every_s
        self.max_images_per_job = max_images_per_job
        self._clock = clock
        self._jobs: dict[str, _Job] = {}  # the current job of each key
        self._runs: dict[str, int] = {}  # jobs started per run name
        self._active: _Job | None = None  # the job of the last event
        self._closed = False

    def __call__(self, event: Progress) -> None:
        if self._closed:
            return
        job = self._job(event)
        if self._active is not None and self._active is not job:
            self._end(self._active)  # on a change of stage, the last mask of the one before
        self._active = job
        step = int(round(event.done))
        values = {f"{job.group}/{key}": value for key, value in _scalars(event).items()}
        values = {tag: value for tag, value in values.items() if job.logged.get(tag) != (step, value)}
        if values:  # an epoch's last batch and the epoch's row repeat the training loss: once
            self.sink.scalars(job.run, step, values)
        job.last.update(values)
        job.logged.update({tag: (step, value) for tag, value in values.items()})
        image = _mask_image(event.payload)
        if image is not None:
            self._offer_image(job, step, image)
        job.done, job.finished = event.done, event.finished
        if job.finished:
            self._show_pending(job)

    def close(self, outcome: str = "finished") -> None:
        """Log every job's last mask, the final values and the outcome (finished, cancelled,
        failed), and close; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            for job in self._jobs.values():
                self._end(job)
        finally:
            final: dict[str, float] = {}
            for job in self._jobs.values():  # in the order the jobs started: the last job's values win
                final.update({f"final/{tag}": value for tag, value in job.last.items()})
            self.sink.finish(final, outcome)

    def _job(self, event: Progress) -> _Job:
        model = event.payload.get("model")
        key = event.stage if not isinstance(model, str) else f"{event.stage} {model}"
        job = self._jobs.get(key)
        if job is not None and event.done >= job.done and (not job.finished or event.done == job.done):
            return job
        if job is not None:
            self._end(job)
        base = _slug(key)
        count = self._runs.get(base, 0) + 1
        self._runs[base] = count
        job = _Job(key, base if count == 1 else f"{base}-{count}", _slug(event.stage.split(" ")[0]))
        self._jobs.pop(key, None)
        self._jobs[key] = job  # last in the order: its values are the final ones
        return job

    def _offer_image(self, job: _Job, step: int, image: np.ndarray) -> None:
        now = self._clock()
        due = job.image_at is None or now - job.image_at >= self.image_every_s
        if due and job.images < self.max_images_per_job:
            self.sink.image(job.run, f"{job.group}/mask", step, image)
            job.images, job.image_at, job.pending = job.images + 1, now, None
        else:
            job.pending = (step, image)

    def _show_pending(self, job: _Job) -> None:
        if job.pending is not None:
            step, image = job.pending
            job.pending = None
            self.sink.image(job.run, f"{job.group}/mask", step, image)
            job.images += 1

    def _end(self, job: _Job) -> None:
        """Another job's turn, or the end: the job's last mask, and its run closed (opened
        again should it go on: a study's steps come between the jobs they run)."""
        self._show_pending(job)
        self.sink.end_run(job.run)


def _slug(text: str) -> str:
    """A run or tag name: letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "job"


def _scalars(event: Progress) -> dict[str, float]:
    """The event's numbers: its fraction done, each number in its payload, and the mean of each
    list of numbers (one per mask being learned: ``invariance``, ``kept_fraction``...)."""
    values = {"progress": event.fraction}
    for key, value in event.payload.items():
        if key in MASK_KEYS or isinstance(value, str):
            continue
        if isinstance(value, (bool, int, float, np.number, np.bool_)):
            values[key] = float(value)
        elif isinstance(value, np.ndarray) and value.ndim == 1 and value.size and value.dtype.kind in "biuf":
            values[key] = float(value.mean())
    return values


def _mask_image(payload: Mapping[str, Any]) -> np.ndarray | None:
    """The payload's masks, centred, as one ``(C, H, W)`` image: one set mask as it is, the
    masks being learned (up to :data:`MAX_TILES`) side by side on a grid with a 1-pixel gap."""
    if isinstance(payload.get("mask"), np.ndarray) and payload["mask"].ndim == 3:
        masks = payload["mask"][None]
    elif isinstance(payload.get("masks"), np.ndarray) and payload["masks"].ndim == 4 and len(payload["masks"]):
        masks = payload["masks"][:MAX_TILES]
    else:
        return None
    masks = np.clip(np.nan_to_num(centred(np.asarray(masks, dtype=np.float32))), 0.0, 1.0)
    if masks.shape[1] not in (1, 3):  # per-channel masks of another channel count: their mean
        masks = masks.mean(axis=1, keepdims=True)
    if len(masks) == 1:
        return masks[0]
    n, c, h, w = masks.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((c, rows * (h + 1) - 1, cols * (w + 1) - 1), dtype=np.float32)
    for k, mask in enumerate(masks):
        r, q = divmod(k, cols)
        grid[:, r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = mask
    return grid


def _hparam(value: Any) -> bool | int | float | str:
    """An option's value as trackers take it: numbers, booleans and text as they are, the rest as text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


class TensorBoardSink:
    """Event files under ``logdir``: the job's options (a text table and the HParams
    dashboard's session) and final values in ``logdir`` itself, each job in ``logdir/<run>``."""

    def __init__(self, logdir: str | Path, hparams: Mapping[str, Any], flush_secs: int = 10) -> None:
        from torch.utils.tensorboard import SummaryWriter  # only when asked: it loads TensorBoard

        self._writer_class = SummaryWriter
        self.logdir = Path(logdir)
        self.flush_secs = flush_secs
        self.hparams = {key: _hparam(value) for key, value in hparams.items()}
        try:
            self.root: Any = SummaryWriter(str(self.logdir), flush_secs=flush_secs)
        except OSError as exc:
            what = exc.strerror or type(exc).__name__
            raise OutputError(f"tensorboard:{logdir}: cannot write there ({what}); give another DIR") from None
        self.root.add_text("options", _options_table(self.hparams), 0)
        self._writers: dict[str, Any] = {}

    def _writer(self, run: str):
        writer = self._writers.get(run)
        if writer is None:
            writer = self._writers[run] = self._writer_class(str(self.logdir / run), flush_secs=self.flush_secs)
        return writer

    def scalars(self, run: str, step: int, values: Mapping[str, float]) -> None:
        writer = self._writer(run)
        for tag, value in values.items():
            writer.add_scalar(tag, value, step)

    def image(self, run: str, tag: str, step: int, image: np.ndarray) -> None:
        self._writer(run).add_image(tag, image, step, dataformats="CHW")

    def end_run(self, run: str) -> None:
        writer = self._writers.pop(run, None)
        if writer is not None:
            writer.close()

    def finish(self, final: Mapping[str, float], outcome: str) -> None:
        from torch.utils.tensorboard.summary import hparams

        try:
            for run in list(self._writers):
                self.end_run(run)
        finally:
            experiment, start, end = hparams(dict(self.hparams), dict(final))
            for summary in (experiment, start, end):
                self.root.file_writer.add_summary(summary)
            for tag, value in final.items():
                self.root.add_scalar(tag, value, 0)
            self.root.add_text("outcome", outcome, 0)
            self.root.close()


class WandbSink:
    """A Weights & Biases run in ``project``: the options as its config, each job's values
    under ``<run>/<tag>`` with ``<run>/step`` (its progress count), the final values in its
    summary."""

    def __init__(self, project: str, hparams: Mapping[str, Any]) -> None:
        wandb = importlib.import_module("wandb")  # only when asked (and untyped: no stubs needed)
        self._wandb = wandb
        self.run = wandb.init(project=project, config={key: _hparam(value) for key, value in hparams.items()})
        self._runs: set[str] = set()

    def scalars(self, run: str, step: int, values: Mapping[str, float]) -> None:
        if run not in self._runs:  # the job's charts over its own progress count
            self._runs.add(run)
            self.run.define_metric(f"{run}/*", step_metric=f"{run}/step")
        self.run.log({f"{run}/step": step, **{f"{run}/{tag}": value for tag, value in values.items()}})

    def image(self, run: str, tag: str, step: int, image: np.ndarray) -> None:
        picture = np.transpose(image, (1, 2, 0))
        picture = picture[..., 0] if picture.shape[-1] == 1 else picture
        self.run.log({f"{run}/step": step, f"{run}/{tag}": self._wandb.Image((picture * 255).astype(np.uint8))})

    def end_run(self, run: str) -> None:
        pass

    def finish(self, final: Mapping[str, float], outcome: str) -> None:
        self.run.summary.update({**final, "outcome": outcome})
        self.run.finish(exit_code=0 if outcome == "finished" else 1)


def _options_table(hparams: Mapping[str, Any]) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in hparams.items())
    return f"| option | value |\n| --- | --- |\n{rows}"


def open_tracker(target: TrackingTarget, hparams: Mapping[str, Any], **options: Any) -> ProgressTracker:
    """A tracker logging to ``target``, the job described by ``hparams`` (its options)."""
    target.check_installed()
    try:
        sink: TrackingSink = (
            TensorBoardSink(target.where, hparams) if target.kind == "tensorboard" else WandbSink(target.where, hparams)
        )
    except FourierMasksError:
        raise
    except Exception as exc:  # noqa: BLE001 - a tracker that cannot start (W&B not logged in): one line
        raise ConfigError(f"{target}: cannot start it ({type(exc).__name__}: {exc})") from exc
    return ProgressTracker(sink, **options)


def fan_out(callbacks: Sequence[ProgressCallback]) -> ProgressCallback:
    """One progress callback that passes each event to each of ``callbacks`` in turn."""
    if len(callbacks) == 1:
        return callbacks[0]

    def each(event: Progress) -> None:
        for callback in callbacks:
            callback(event)

    return each
