"""Bundled resources (icons) and the user documentation (``docs/*.md``, which the app's Help
menu shows), found the same way in a source tree, an installed wheel and a frozen PyInstaller
build (which unpacks the package's files next to its modules)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["resource_path", "document_path"]

_ROOT = Path(__file__).resolve().parent
_DOCS = _ROOT.parent / "docs"  # the package root's docs/: the repository's in a source tree


def resource_path(name: str) -> Path:
    """Absolute path of a bundled resource file such as ``icon.svg``."""
    path = _ROOT / name
    if not path.is_file():
        raise FileNotFoundError(f"missing resource {name!r} (looked in {_ROOT})")
    return path


def document_path(name: str) -> Path:
    """Absolute path of a user document such as ``science.md``."""
    path = _DOCS / name
    if not path.is_file():
        raise FileNotFoundError(f"missing document {name!r} (looked in {_DOCS})")
    return path
