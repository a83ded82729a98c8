"""The ``fourier-masks`` console command: the desktop app by default, the engine's CLI for
subcommands. Qt is imported only when the app is opened, so headless subcommands run on
servers without a display or Qt libraries."""

from __future__ import annotations

from typing import Sequence

from core.errors import FourierMasksError

__all__ = ["main"]


def _open_app(run: str | None) -> int:
    try:
        from app.main import run_app
    except ImportError as exc:
        raise FourierMasksError(
            f"the desktop app cannot start ({exc}); check that PySide6 and pyqtgraph are installed, "
            "or use a headless subcommand such as `fourier-masks demo --quick --out runs/demo`"
        ) from None
    return run_app(run)


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli import main as cli_main

    return cli_main(argv, open_app=_open_app)
