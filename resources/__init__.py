"""Bundled resources (icons), found the same way in a source tree, an installed wheel and a
frozen PyInstaller build (which unpacks this package's files next to its modules)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["resource_path"]

_ROOT = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Absolute path of a bundled resource file such as ``icon.svg``."""
    path = _ROOT / name
    if not path.is_file():
        raise FileNotFoundError(f"missing resource {name!r} (looked in {_ROOT})")
    return path
