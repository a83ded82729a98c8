"""Progress reporting and cancellation for long operations.

Long operations take keyword-only ``on_progress`` (a callable receiving :class:`Progress`)
and ``cancel`` (anything with ``is_set()``, typically a :class:`threading.Event`). They check
``cancel`` between units of work and return a partial result marked cancelled rather than
raising, so finished work is never thrown away. The engine emits progress freely; consumers
(the CLI line, the GUI worker) throttle what they show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Progress", "ProgressCallback", "CancelToken", "ProgressReporter", "format_duration"]


class CancelToken(Protocol):
    """Anything with ``is_set()``; :class:`threading.Event` is the usual choice."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Progress:
    """One progress event.

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

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def eta_s(self) -> float | None:
        """Seconds left, extrapolated linearly; None until some work is done."""
        if self.done <= 0 or self.total <= 0:
            return None
        return self.elapsed_s * (self.total - self.done) / self.done


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

    def report(self, done: float, message: str = "", **payload: Any) -> None:
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
            )
        )


def format_duration(seconds: float | None, compact: bool = False) -> str:
    """``75`` → ``1 min 15 s`` (``1m15s`` compact), for ETAs and timings."""
    if seconds is None:
        return "…"
    seconds = int(round(seconds))
    h, m, s = seconds // 3600, seconds % 3600 // 60, seconds % 60
    if compact:
        return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"
