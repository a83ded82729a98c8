"""Where the app keeps its settings, logs and session runs (platformdirs), and the log setup.

``FOURIER_MASKS_HOME`` overrides the base folder (tests and portable installs use it).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

__all__ = ["AppPaths", "app_paths", "open_settings", "setup_logging", "RECENT_LIMIT"]

APP_NAME = "fourier-masks"
RECENT_LIMIT = 10


class AppPaths:
    def __init__(self, home: Path | None = None) -> None:
        if home is not None:
            self.config = home / "config"
            self.logs = home / "logs"
            self.data = home / "data"
        else:
            self.config = Path(platformdirs.user_config_dir(APP_NAME))
            self.logs = Path(platformdirs.user_log_dir(APP_NAME))
            self.data = Path(platformdirs.user_data_dir(APP_NAME))

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.ini"

    @property
    def log_file(self) -> Path:
        return self.logs / "fourier-masks.log"

    @property
    def runs(self) -> Path:
        """Session runs (analyses the user has not saved elsewhere)."""
        return self.data / "runs"


def app_paths() -> AppPaths:
    home = os.environ.get("FOURIER_MASKS_HOME")
    return AppPaths(Path(home) if home else None)


def open_settings(paths: AppPaths) -> QSettings:
    paths.config.mkdir(parents=True, exist_ok=True)
    return QSettings(str(paths.settings_file), QSettings.Format.IniFormat)


def setup_logging(paths: AppPaths) -> Path:
    """Warnings and errors (and info from our packages) to a rotating file in the log folder."""
    paths.logs.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if not any(getattr(h, "_fourier_masks", False) for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(paths.log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        handler._fourier_masks = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        for name in ("app", "core"):
            logging.getLogger(name).setLevel(logging.INFO)
    return paths.log_file
