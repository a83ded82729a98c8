"""Where the app and the CLI keep their log: a rotating file in the platform's log folder.

``FOURIER_MASKS_HOME`` moves it (with the app's settings and data) under one folder.

Notices are what the user should hear once, in our words, rather than as a library's raw
warning (a model format deprecated upstream, say): :func:`notice_once` logs them to the
``core.notices`` logger, which the CLI prints as ``note:`` lines and the app shows in its
message bar.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

__all__ = ["NOTICES", "log_dir", "log_file", "notice_once", "print_notices", "setup_file_logging"]

APP_NAME = "fourier-masks"
NOTICES = logging.getLogger("fourier_masks.notices")

_noticed: set[str] = set()
_noticed_lock = threading.Lock()


def notice_once(key: str, text: str) -> None:
    """Tell the user ``text`` the first time ``key`` comes up in this process."""
    with _noticed_lock:
        if key in _noticed:
            return
        _noticed.add(key)
    NOTICES.warning(text)


class _NotePrinter(logging.Handler):
    """Notices as ``note:`` lines on the current ``sys.stderr`` (looked up at each notice)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"note: {record.getMessage()}", file=sys.stderr)


def print_notices() -> None:
    """Show notices on the terminal (the command line's choice). Idempotent."""
    if not any(isinstance(h, _NotePrinter) for h in NOTICES.handlers):
        NOTICES.addHandler(_NotePrinter())


def log_dir() -> Path:
    home = os.environ.get("FOURIER_MASKS_HOME")
    if home:
        return Path(home) / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME))


def log_file() -> Path:
    return log_dir() / "fourier-masks.log"


class _OursOrWarnings(logging.Filter):
    """Info from our packages, warnings and errors from everyone: a library's chatter at INFO
    (fontTools logs thousands of lines for one PDF export) would bury what went wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] == "fourier_masks"


def setup_file_logging(level: int = logging.INFO) -> Path | None:
    """Send warnings and errors (and info from our packages) to the rotating log file.
    Returns its path, or None when the log folder cannot be written (logging is then left
    to the console: a read-only home must not stop the program)."""
    path = log_file()
    root = logging.getLogger()
    if any(getattr(h, "_fourier_masks", False) for h in root.handlers):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    handler.addFilter(_OursOrWarnings())
    handler._fourier_masks = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return path
