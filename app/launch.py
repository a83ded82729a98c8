"""The ``fourier-masks`` console command: the desktop app by default, the engine's CLI for
subcommands. Qt is imported only when the app is opened, so headless subcommands run on
servers without a display or Qt libraries."""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fourier_masks.core.errors import FourierMasksError

__all__ = ["main"]


def _has_display() -> bool:
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# What Qt's X11 platform plugin links to (or, for libxcb-cursor, loads itself) and the system
# packages that hold each library: (Debian/Ubuntu, Fedora). Qt aborts the process when one is
# missing, naming only libxcb-cursor0 whatever the missing one is.
XCB_PACKAGES = {
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}


def _xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    for root in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def _unresolved(library: Path) -> list[str]:
    """The shared libraries ``library`` needs that the loader cannot find (``ldd``)."""
    if shutil.which("ldd") is None:
        return []
    try:
        listing = subprocess.run(["ldd", str(library)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(set(re.findall(r"^\s*(\S+) => not found", listing, flags=re.MULTILINE)))


def missing_x11_libraries() -> list[str]:
    """The libraries Qt's X11 plugin would miss on this machine (empty when it has them all,
    or off Linux, or when another platform plugin is chosen)."""
    platform = os.environ.get("QT_QPA_PLATFORM") or "xcb"  # set but empty is unset to Qt
    if not sys.platform.startswith("linux") or not platform.startswith("xcb"):
        return []
    if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return []  # Qt picks its Wayland plugin
    plugin = _xcb_plugin()
    if plugin is None:
        return []
    missing = _unresolved(plugin)
    if ctypes.util.find_library("xcb-cursor") is None:  # loaded by Qt itself since 6.5
        missing.append("libxcb-cursor.so.0")
    return sorted(set(missing))


def _missing_libraries_message(missing: list[str]) -> str:
    debian = sorted({XCB_PACKAGES[name][0] for name in missing if name in XCB_PACKAGES})
    fedora = sorted({XCB_PACKAGES[name][1] for name in missing if name in XCB_PACKAGES})
    unknown = [name for name in missing if name not in XCB_PACKAGES]
    install = (
        f"install them with `sudo apt install {' '.join(debian)}` (Debian, Ubuntu) or "
        f"`sudo dnf install {' '.join(fedora)}` (Fedora)"
        if debian
        else "install the packages that provide them"
    )
    extra = f" (and a package providing {', '.join(unknown)})" if debian and unknown else ""
    return (
        f"the desktop app cannot start: Qt's X11 plugin needs {', '.join(missing)}, which this system lacks; "
        f"{install}{extra}. Headless subcommands need none of them: `fourier-masks demo --quick --out runs/demo`"
    )


def _open_app(run: str | None, demo: bool = False) -> int:
    if not _has_display():
        # Qt would abort the process without a display; say what to do instead.
        raise FourierMasksError(
            "no display found for the desktop app; on a server use a headless subcommand such as "
            "`fourier-masks demo --quick --out runs/demo` (or set QT_QPA_PLATFORM=offscreen)"
        )
    missing = missing_x11_libraries()
    if missing:  # Qt would abort the process, blaming libxcb-cursor0 whatever is missing
        raise FourierMasksError(_missing_libraries_message(missing))
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
