"""Where the app and the CLI keep their log: a rotating file in the platform's log folder.

``FOURIER_MASKS_HOME`` moves it (with the app's settings and data) under one folder.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

__all__ = ["log_dir", "log_file", "setup_file_logging"]

APP_NAME = "fourier-masks"


def log_dir() -> Path:
    home = os.environ.get("FOURIER_MASKS_HOME")
    if home:
        return Path(home) / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME))


def log_file() -> Path:
    return log_dir() / "fourier-masks.log"


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
    handler._fourier_masks = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    for noisy in ("numba", "matplotlib", "PIL", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
