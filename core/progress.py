"""Progress reporting, cancellation and ETAs for long operations.

Long operations take keyword-only ``on_progress`` (a callable receiving :class:`Progress`)
and ``cancel`` (anything with ``is_set()``, typically a :class:`threading.Event`). They check
``cancel`` between units of work and return a partial result marked cancelled rather than
raising, so finished work is never thrown away. The engine emits progress freely; consumers
(the CLI line, the GUI worker) throttle what they show.

ETAs follow one rule wherever they are shown (:class:`Countdown`): none until a step time is
measured ("estimating…"); then the measured time per unit of work times the work expected to
be left, said as an upper bound ("≤ 2 min 56 s") while it rests on one (masks that may stop
early, before any has stopped); and the figure shown never rises. A lower fresh estimate
replaces it; work running behind its estimate slows its countdown rather than raising it;
work that outlasts all expectation (the last mask straggling) reads "finishing…". A job of
several steps of different kinds (the study) estimates each step's cost before it starts
(:class:`CostModel`) and reports where the whole stands (:class:`OverallProgress`).
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import ConfigError

__all__ = [
    "Progress",
    "StudyProgress",
    "ProgressCallback",
    "CancelToken",
    "ProgressReporter",
    "Countdown",
    "JobEta",
    "CostModel",
    "OverallProgress",
    "format_duration",
    "format_eta",
    "TqdmProgress",
]


class CancelToken(Protocol):
    """Anything with ``is_set()``; :class:`threading.Event` is the usual choice."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class StudyProgress:
    """Where a job of fixed steps (the study) stands, attached to each event it passes on.

    ``step`` counts from 1 to ``steps`` (fixed for the job); ``fraction`` of the whole never
    goes back; ``eta_s`` is the ETA to show (None until a step time is measured; it never
    rises), ``eta_is_bound`` says it rests on an upper bound of the work, ``estimate_s`` is the
    cost model's fresh estimate it came from, and ``elapsed_s`` the job's own clock.
    """

    step: int
    steps: int
    name: str
    fraction: float
    eta_s: float | None
    eta_is_bound: bool = False
    estimate_s: float | None = None
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class Progress:
    """One progress event.

    ``done``/``total`` say how far the job is (a bar). ``work_done``/``work_left`` are what
    an ETA needs where that is not proportional to time: the work done in the job's cost unit
    (one whose time is about constant, e.g. a step of the whole mask batch) and the work
    expected to be left, ``left_is_bound`` when that is only an upper bound; unset, they are
    ``done`` and ``total − done``. ``study``: where the whole study stands, on the events a
    study passes on.

    ``payload`` carries stage-specific live data as CPU numpy arrays or plain numbers, e.g.
    ``masks`` (current masks, unshifted DFT layout), ``ids`` (image ids in the batch) and
    curve values (``invariance``, ``kept_fraction``, ``accuracy``...), so a GUI can draw
    convergence without touching tensors.
    """

    stage: str
    done: float
    total: float
    message: str = ""
    elapsed_s: float = 0.0
    payload: dict[str, Any] = field(default_factory=dict)
    work_done: float | None = None
    work_left: float | None = None
    left_is_bound: bool = False
    study: StudyProgress | None = None

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done >= self.total

    @property
    def work(self) -> tuple[float, float]:
        """(work done, work expected to be left), in the job's cost unit."""
        done = self.done if self.work_done is None else self.work_done
        left = self.total - self.done if self.work_left is None else self.work_left
        return done, max(0.0, left)

    @property
    def work_fraction(self) -> float:
        """The share of the job's expected work that is done."""
        done, left = self.work
        return done / (done + left) if done + left > 0 else self.fraction

    @property
    def eta_s(self) -> float | None:
        """A fresh estimate of the seconds left: the measured time per unit of work
        (``elapsed_s`` over the work done) times the work expected to be left; None until some
        work is done. The figure to show is :class:`JobEta`'s, which never rises."""
        done, left = self.work
        if done <= 0 or (self.total <= 0 and self.work_left is None):
            return None
        return self.elapsed_s * left / done


ProgressCallback = Callable[[Progress], None]


class ProgressReporter:
    """Builds :class:`Progress` events for one stage and answers "was I cancelled?"."""

    def __init__(
        self,
        stage: str,
        total: float,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.stage = stage
        self.total = total
        self._on_progress = on_progress
        self._cancel = cancel
        self._start = time.perf_counter()

    @property
    def cancelled(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    @property
    def wants_payload(self) -> bool:
        """False when nobody listens, so callers can skip building live copies."""
        return self._on_progress is not None

    def report(
        self,
        done: float,
        message: str = "",
        *,
        work_done: float | None = None,
        work_left: float | None = None,
        left_is_bound: bool = False,
        **payload: Any,
    ) -> None:
        if self._on_progress is None:
            return
        self._on_progress(
            Progress(
                stage=self.stage,
                done=done,
                total=self.total,
                message=message,
                elapsed_s=time.perf_counter() - self._start,
                payload=payload,
                work_done=work_done,
                work_left=work_left,
                left_is_bound=left_is_bound,
            )
        )


class Countdown:
    """The ETA rule: the figure shown never rises.

    The first estimate (seconds left at clock time ``now``) is shown as it is; then the figure
    counts down with the clock, and each fresh estimate below it replaces it. A fresh estimate
    above it (the work runs behind its estimate) never raises it: the figure counts down more
    slowly instead, in proportion (shown / estimate seconds per second), so an estimate that
    was low stays about as far from the truth as it was rather than running out early; and
    work expected to be over (a straggling mask past its expected stop) shows 0
    ("finishing…"). ``bound``: the latest estimate was an upper bound of the work left.
    """

    def __init__(self) -> None:
        self._shown: float | None = None  # at clock time self._at
        self._at = 0.0
        self._pace = 1.0  # seconds counted down per second
        self.bound = False

    def update(self, now: float, estimate: float | None, bound: bool = False) -> None:
        if estimate is None:
            return
        estimate = max(0.0, estimate)
        current = self.left(now)
        shown = estimate if current is None else min(current, estimate)
        self._shown, self._at = shown, now
        self._pace = min(1.0, shown / estimate) if estimate > 0 else 1.0
        self.bound = bound

    def left(self, now: float) -> float | None:
        if self._shown is None:
            return None
        return max(0.0, self._shown - self._pace * (now - self._at))


class JobEta:
    """The ETA to show for one job, from its events (:attr:`Progress.eta_s`) by the rule of
    :class:`Countdown`. An event of another stage, or one that counts from less than the last
    (the next model trained), starts a new job. ``whole_study``: events inside a study give
    the whole study's ETA (:attr:`Progress.study`) instead of their own job's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, whole_study: bool = False) -> None:
        self._clock = clock
        self.whole_study = whole_study
        self._job: str | None = None
        self._count = 0.0
        self._finished = False
        self._countdown = Countdown()

    def observe(self, event: Progress) -> None:
        study = event.study if self.whole_study else None
        if study is not None:
            # The study's fresh estimates, under this clock's rule (its shown ETA already
            # counted down at the study's pace, which a second countdown would not know).
            job, count, finished = "study", study.elapsed_s, study.fraction >= 1
            estimate, bound = study.estimate_s, study.eta_is_bound
        else:
            job, count, finished = event.stage, event.done, event.finished
            estimate, bound = event.eta_s, event.left_is_bound
        if job != self._job or count < self._count:
            self._countdown = Countdown()
        self._job, self._count, self._finished = job, count, finished
        self._countdown.update(self._clock(), estimate, bound)

    @property
    def seconds(self) -> float | None:
        return self._countdown.left(self._clock())

    def text(self, compact: bool = False) -> str:
        """What to show: empty when no job runs or it has finished, else :func:`format_eta`."""
        if self._job is None or self._finished:
            return ""
        return format_eta(self.seconds, self._countdown.bound, compact)


@dataclass
class WorkPart:
    """One job of a multi-step operation as :class:`CostModel` sees it: ``items × per_item``
    units of work of one ``kind``, done in ``step``; ``bound``: ``per_item`` is a cap the work
    may stop short of; ``jobs``: inner jobs run one after another (one per class, say)."""

    key: str
    step: int
    kind: str
    items: float
    per_item: float
    bound: bool = False
    jobs: int = 1
    started: float | None = None
    seconds: float | None = None  # once finished
    fraction: float = 0.0  # of the running part, from its inner events
    finished_jobs: int = 0
    job: tuple[str, float] | None = None  # the running inner job's stage and last count

    @property
    def units(self) -> float:
        return self.items * self.per_item

    @property
    def finished(self) -> bool:
        return self.seconds is not None


class CostModel:
    """Seconds left of a job made of parts of known kinds, each costed before it starts.

    A part's work is ``items × per_item`` units in a unit common to all kinds (the study's:
    one forward and backward pass of one image through the model, or one optimiser step of
    one mask). Each kind turns units into seconds at its own measured rate: the seconds over
    the units of its finished parts; the running part's kind moves from that (or from a
    prior) to the part's own pace as the part goes (:meth:`rates`), its units done being its
    units times the share its inner events report done. A kind not measured yet takes the
    pooled rate of the measured kinds, scaled by ``relative_cost`` (how its seconds per unit
    compare with theirs); a kind of ``prior_rates`` starts from that rate in seconds per unit
    instead and is never pooled (the report, whose units are seconds). Parts are timed back to
    back, each from the end of the one before, so no time is left out. Before anything is
    measured there is no estimate.
    """

    TRUST = 0.1  # the share of a part done at which its own pace weighs as much as the prior

    def __init__(
        self,
        relative_cost: Mapping[str, float],
        prior_rates: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.relative_cost = dict(relative_cost)
        self.prior_rates = dict(prior_rates or {})
        self.parts: dict[str, WorkPart] = {}
        self._clock = clock
        self._since = clock()
        self._running: WorkPart | None = None

    def add(
        self, key: str, step: int, kind: str, items: float, per_item: float = 1.0, *, bound: bool = False, jobs: int = 1
    ) -> None:
        self.parts[key] = WorkPart(key, step, kind, items, per_item, bound, max(1, jobs))

    def mark(self) -> None:
        """Time the next part from now (what ran before is no part's work)."""
        self._since = self._clock()

    def begin(self, key: str) -> None:
        part = self.parts.get(key)
        if part is not None and not part.finished:
            part.started, self._running = self._since, part

    def observe(self, event: Progress) -> None:
        """An event of the running part's inner jobs: how much of the part is done."""
        part = self._running
        if part is None:
            return
        if part.job is not None and (event.stage != part.job[0] or event.done < part.job[1]):
            part.finished_jobs += 1
        part.job = (event.stage, event.done)
        within = min(1.0, event.work_fraction)
        part.fraction = min(1.0, (min(part.finished_jobs, part.jobs - 1) + within) / part.jobs)

    def end(self, key: str, units: float | None = None) -> None:
        """The part is done; ``units``: the work it really took, where that is known now."""
        part = self.parts.get(key)
        if part is None or part.finished:
            return
        if part.started is None:  # never begun: found done, or not needed after all
            part.seconds = 0.0
            return
        now = self._clock()
        part.seconds = now - part.started
        if units is not None:
            part.items, part.per_item = units, 1.0
        part.fraction, self._since = 1.0, now
        if self._running is part:
            self._running = None

    def end_step(self, step: int) -> None:
        """Whatever of ``step`` did not run (found done, or not needed) costs nothing more."""
        for part in self.parts.values():
            if part.step == step:
                self.end(part.key)

    def revise(self, kind: str, per_item: float, bound: bool = False) -> None:
        """New knowledge of one item's cost (how many steps a mask takes, say) for the
        unfinished parts of ``kind``."""
        for part in self.parts.values():
            if part.kind == kind and not part.finished:
                part.per_item, part.bound = per_item, bound

    def _measured(self, now: float) -> tuple[dict[str, tuple[float, float]], tuple[str, float, float] | None]:
        """Seconds and units per kind of the finished parts, and (kind, seconds, units) of the
        running part so far."""
        finished: dict[str, tuple[float, float]] = {}
        for part in self.parts.values():
            if part.finished and part.seconds and part.units > 0:
                s, u = finished.get(part.kind, (0.0, 0.0))
                finished[part.kind] = (s + part.seconds, u + part.units)
        running = self._running
        if running is None or running.fraction <= 0 or running.units <= 0 or running.started is None:
            return finished, None
        return finished, (running.kind, now - running.started, running.units * running.fraction)

    def _prior(self, kind: str, evidence: Mapping[str, tuple[float, float]]) -> float | None:
        """Seconds per unit of ``kind`` from ``evidence`` (kind → seconds, units): its own, its
        prior rate, or the pooled rate of the other kinds scaled by its relative cost."""
        if kind in evidence:
            seconds, units = evidence[kind]
            return seconds / units
        if kind in self.prior_rates:
            return self.prior_rates[kind]
        pooled = [(s, u * self.relative_cost[k]) for k, (s, u) in evidence.items() if k in self.relative_cost]
        if not pooled or kind not in self.relative_cost:
            return None
        return sum(s for s, _ in pooled) / sum(u for _, u in pooled) * self.relative_cost[kind]

    def rates(self) -> dict[str, float | None]:
        """Seconds per unit of each kind of work still to do; None where nothing tells yet.

        The running part's kind moves from what was known before the part started to the
        part's own pace, weighing its pace ``f / (f + TRUST)`` with ``f`` its share done: the
        first, quick sub-steps of a part do not set the pace of all of it."""
        finished, live = self._measured(self._clock())
        evidence = dict(finished)
        if live is not None:
            kind, seconds, units = live
            s, u = evidence.get(kind, (0.0, 0.0))
            evidence[kind] = (s + seconds, u + units)
        rates = {part.kind: self._prior(part.kind, evidence) for part in self.parts.values() if not part.finished}
        if live is not None and self._running is not None:
            kind, seconds, units = live
            own, before = seconds / units, self._prior(kind, finished)
            trust = self._running.fraction / (self._running.fraction + self.TRUST)
            rates[kind] = own if before is None else trust * own + (1 - trust) * before
        return rates

    def seconds_left(self) -> tuple[float | None, bool]:
        """(seconds left, whether that rests on an upper bound); None before a measurement."""
        now = self._clock()
        finished, live = self._measured(now)
        if not finished and live is None:
            return None, False
        rates = self.rates()
        total, bound = 0.0, False
        for part in self.parts.values():
            if part.finished or part.units <= 0:
                continue
            rate = rates.get(part.kind)
            if rate is None:
                return None, False
            if part is not self._running:
                total += part.units * rate
            elif part.fraction > 0:
                total += part.units * (1 - part.fraction) * rate
            else:  # running, nothing reported yet: its expected time less what it has had
                total += max(0.0, part.units * rate - (now - (part.started or now)))
            bound = bound or part.bound
        return total, bound


class OverallProgress:
    """Progress of a job of fixed steps (the study), as one bar and one ETA.

    :meth:`relay` passes each inner event on with :class:`StudyProgress` attached; :meth:`step`
    announces a step (a ``study`` event, ``done`` = steps finished). The fraction is the share
    of the predicted total time elapsed, ``elapsed / (elapsed + ETA)``: with the ETA never
    rising (:class:`Countdown`) it only grows; it stays below 1 until :meth:`finish`.
    """

    def __init__(
        self,
        steps: Sequence[str],
        costs: CostModel,
        on_progress: ProgressCallback | None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.steps = list(steps)
        self.costs = costs
        self._on_progress = on_progress
        self._clock = clock
        self._start = clock()
        self._countdown = Countdown()
        self._step = 0
        self._fraction = 0.0

    def snapshot(self) -> StudyProgress:
        now = self._clock()
        elapsed = now - self._start
        estimate, bound = self.costs.seconds_left()
        self._countdown.update(now, estimate, bound)
        left = self._countdown.left(now)
        if left is not None and elapsed > 0:
            self._fraction = max(self._fraction, min(0.99, elapsed / (elapsed + left)))
        return StudyProgress(
            step=self._step + 1,
            steps=len(self.steps),
            name=self.steps[self._step],
            fraction=self._fraction,
            eta_s=left,
            eta_is_bound=self._countdown.bound and left is not None,
            estimate_s=estimate,
            elapsed_s=elapsed,
        )

    def step(self, k: int) -> None:
        self._step = k
        if self._on_progress is not None:
            study = self.snapshot()
            self._on_progress(Progress("study", k, len(self.steps), self.steps[k], study.elapsed_s, study=study))

    def relay(self, event: Progress) -> None:
        self.costs.observe(event)
        if self._on_progress is not None:
            self._on_progress(dataclasses.replace(event, study=self.snapshot()))

    def finish(self) -> None:
        """The job is done: the last event, at 100 %."""
        if self._on_progress is None:
            return
        n, elapsed = len(self.steps), self._clock() - self._start
        study = StudyProgress(n, n, self.steps[-1], 1.0, 0.0, elapsed_s=elapsed)
        self._on_progress(Progress("study", n, n, "done", elapsed, study=study))


def format_duration(seconds: float | None, compact: bool = False) -> str:
    """``75`` → ``1 min 15 s`` (``1m15s`` compact), for ETAs and timings."""
    if seconds is None:
        return "…"
    seconds = int(round(seconds))
    h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
    if compact:
        return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def format_eta(seconds: float | None, bound: bool = False, compact: bool = False) -> str:
    """An ETA as it reads: "estimating…" before a step time is measured, "finishing…" once the
    work has outlasted its estimate, "≤ 2 min 56 s" when it is an upper bound."""
    if seconds is None:
        return "estimating…"
    if seconds < 0.5:
        return "finishing…"
    text = format_duration(seconds, compact)
    return f"≤ {text}" if bound else text


class TqdmProgress:
    """Progress bars in a notebook or terminal: pass it as ``on_progress=``.

    One ``tqdm.auto`` bar per stage (a widget in Jupyter when ipywidgets is installed, text
    otherwise), closed when its stage finishes or another starts; a stage counting again from
    less than before (the next model trained) gets a new bar. Events of a study drive one bar
    for the whole study. The ETA shown is the engine's (:class:`JobEta`: it never rises), not
    tqdm's own rate guess. Use it in a ``with`` block, or call :meth:`close`, so an unfinished
    bar (a cancelled job) is closed too. ``tqdm_options`` go to every bar (``file=``,
    ``leave=``, ``disable=``...). tqdm comes with PyTorch; it is imported here, not by the engine.
    """

    BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def __init__(self, **tqdm_options: Any) -> None:
        try:
            tqdm = importlib.import_module("tqdm.auto").tqdm
        except ImportError:
            raise ConfigError(
                "TqdmProgress needs tqdm, which is not installed; install it with: pip install tqdm"
            ) from None
        self._tqdm = tqdm
        self._options = {"bar_format": self.BAR_FORMAT, **tqdm_options}
        self._bar: Any = None
        self._stage: str | None = None
        self._done = 0.0
        self._eta = JobEta(whole_study=True)

    def __call__(self, event: Progress) -> None:
        stage, done, total, message = event.stage, event.done, event.total, event.message
        if event.study is not None:  # the whole study, in percent
            stage, done, total, message = "study", 100 * event.study.fraction, 100, event.study.name
        new_job = stage != self._stage or done < self._done
        if not new_job and self._bar is None:
            return  # the finished stage's late events
        if new_job:
            self.close()
            self._bar = self._tqdm(total=_count(total) if total > 0 else None, desc=stage, **self._options)
            self._stage = stage
        self._eta.observe(event)
        bar = self._bar
        if total > 0 and bar.total != _count(total):
            bar.reset(total=_count(total))  # tqdm.notebook's widget learns a new total only so
        eta = self._eta.text(compact=True)
        postfix = ", ".join(text for text in (message, f"ETA {eta}" if eta else "") if text)
        if postfix != getattr(bar, "postfix", None):
            bar.set_postfix_str(postfix, refresh=False)
        bar.update(_count(done) - bar.n)
        self._done = done
        if total > 0 and done >= total:
            self.close()

    def close(self) -> None:
        """Close the open bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _count(value: float) -> float:
    """Whole counts as ints, so bars read ``3/10`` rather than ``3.0/10.0``."""
    return int(value) if float(value).is_integer() else value
