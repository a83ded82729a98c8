"""Progress on the command line: one redrawn line on a terminal, a line every few seconds in
a log, and the steps of a study or report one per line. ETAs follow the engine's rule
(:class:`~fourier_masks.core.progress.JobEta`); inside a study every line also says where the
whole study stands."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..progress import JobEta, Progress, format_eta


class ProgressPrinter:
    """Progress on stderr: one redrawn line on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 0.1 if self.tty else 5.0
        self._last = 0.0
        self._stage = ""
        self._open_line = False
        self._eta = JobEta()

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if progress.stage in ("study", "report"):
            # Steps of a multi-step job: one line each; a nested report's steps are indented.
            if progress.done >= progress.total:
                return
            self._end_line()
            step = f"[{int(progress.done) + 1}/{int(progress.total)}]"
            indent = "    " if progress.stage == "report" else ""
            overall = f"  ({_overall(progress)})" if progress.study is not None else ""
            print(f"{indent}{step} {progress.message}{overall}", file=self.stream, flush=True)
            return
        self._eta.observe(progress)
        finished = progress.done >= progress.total
        if progress.stage == self._stage and now - self._last < self.interval and not finished:
            return
        self._stage, self._last = progress.stage, now
        line = self._format(progress)
        if self.tty:
            print("\r" + line.ljust(100)[:150], end="", file=self.stream, flush=True)
            self._open_line = True
            if finished:
                self._end_line()
        else:
            print(line, file=self.stream, flush=True)

    def _end_line(self) -> None:
        if self._open_line:
            print(file=self.stream, flush=True)
            self._open_line = False

    def _format(self, progress: Progress) -> str:
        width = 24
        filled = int(round(width * progress.fraction))
        bar = "█" * filled + "·" * (width - filled)
        eta = self._eta.text(compact=True)
        eta_text = f" eta {eta}" if eta else ""
        overall = f" · {_overall(progress)}" if progress.study is not None else ""
        return f"  {progress.stage:<18} {bar} {100 * progress.fraction:5.1f}%{eta_text}{overall}  {progress.message}"


def _overall(progress: Progress) -> str:
    """``study 34% eta 4m10s``: the whole study's share done and ETA."""
    study = progress.study
    assert study is not None
    return f"study {100 * study.fraction:.0f}% eta {format_eta(study.eta_s, study.eta_is_bound, compact=True)}"
