"""Where the app keeps its settings, logs and session runs (platformdirs), and the log setup.

``FOURIER_MASKS_HOME`` overrides the base folder (tests and portable installs use it).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

from fourier_masks.core.logs import log_dir, setup_file_logging

__all__ = ["AppPaths", "app_paths", "open_settings", "setup_logging", "RECENT_LIMIT"]

APP_NAME = "fourier-masks"
RECENT_LIMIT = 10


class AppPaths:
    def __init__(self, home: Path | None = None) -> None:
        if home is not None:
            self.config = home / "config"
            self.data = home / "data"
        else:
            self.config = Path(platformdirs.user_config_dir(APP_NAME))
            self.data = Path(platformdirs.user_data_dir(APP_NAME))
        self.logs = log_dir()

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


def setup_logging(paths: AppPaths) -> Path | None:
    """The app logs where the CLI does (see :mod:`fourier_masks.core.logs`)."""
    return setup_file_logging()
