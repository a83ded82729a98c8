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


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file; a record it cannot write (the disk filled up since it was opened) is
    dropped: logging's default is a traceback on the terminal for every such record."""

    _fourier_masks = True  # ours: a test removes it to set up the log afresh

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class _NoLog(logging.NullHandler):
    """Stands in for the log file when its folder cannot be written, so that records do not
    reach logging's last resort, which prints every warning (an error the CLI has just
    printed, once more) and every traceback on the terminal."""

    _fourier_masks = True


def setup_file_logging(level: int = logging.INFO) -> Path | None:
    """Send warnings and errors (and info from our packages) to the rotating log file.
    Returns its path, or None when the log folder cannot be written: the user hears that
    once, as a notice, and the program goes on without a log (a read-only home must not
    stop it)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, _LogFile):
            return Path(handler.baseFilename)
        if isinstance(handler, _NoLog):
            return None
    try:
        path = log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8", errors="backslashreplace")
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in FOURIER_MASKS_HOME
        root.addHandler(_NoLog())
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        notice_once(
            "no-log",
            f"no log is kept: cannot write {_where()} ({reason}); "
            "set FOURIER_MASKS_HOME to a folder you can write to keep one",
        )
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    handler.addFilter(_OursOrWarnings())
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return path


def _where() -> str:
    """The log folder as the notice names it (``repr`` when it holds unprintable characters)."""
    try:
        folder = str(log_dir())
    except (OSError, ValueError):
        return "the log folder"
    return folder if folder.isprintable() else repr(folder)
