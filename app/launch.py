"""The ``fourier-masks`` console command: the desktop app by default, the engine's CLI for
subcommands. Qt is imported only when the app is opened, so headless subcommands run on
servers without a display or Qt libraries."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from fourier_masks.core.errors import FourierMasksError

__all__ = ["main"]


def _has_display() -> bool:
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_app(run: str | None, demo: bool = False) -> int:
    if not _has_display():
        # Qt would abort the process without a display; say what to do instead.
        raise FourierMasksError(
            "no display found for the desktop app; on a server use a headless subcommand such as "
            "`fourier-masks demo --quick --out runs/demo` (or set QT_QPA_PLATFORM=offscreen)"
        )
    try:
        from fourier_masks.app.main import run_app
    except ImportError as exc:
        raise FourierMasksError(
            f"the desktop app cannot start ({exc}); check that PySide6 and pyqtgraph are installed, "
            "or use a headless subcommand such as `fourier-masks demo --quick --out runs/demo`"
        ) from None
    return run_app(run, demo=demo)


def main(argv: Sequence[str] | None = None) -> int:
    from fourier_masks.core.cli import main as cli_main

    return cli_main(argv, open_app=_open_app)
