"""A probe of the GUI thread's responsiveness, shared by the app tests and the latency benchmark."""

from __future__ import annotations

import time


class TickProbe:
    """A timer on the GUI thread that records the gaps between its ticks, in seconds: any
    work that blocks the GUI thread shows up as a long gap."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
