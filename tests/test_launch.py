"""The first launch on a machine without what Qt's X11 plugin needs: one message naming the
packages to install, and a non-zero exit, instead of Qt aborting the process."""

from __future__ import annotations

import subprocess

import pytest

from fourier_masks.app import launch

LDD_WITHOUT_ICCCM = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""


@pytest.fixture
def x11_session(monkeypatch):
    """A Linux desktop session that would use Qt's X11 plugin."""
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(launch.sys, "platform", "linux")


def _ldd_says(monkeypatch, listing: str) -> None:
    def run(argv, **kwargs):
        assert argv[0] == "ldd" and argv[1].endswith("libqxcb.so")
        return subprocess.CompletedProcess(argv, 0, stdout=listing, stderr="")

    monkeypatch.setattr(launch.shutil, "which", lambda name: "/usr/bin/ldd")
    monkeypatch.setattr(launch.subprocess, "run", run)
    monkeypatch.setattr(launch.ctypes.util, "find_library", lambda name: f"lib{name}.so.0")


def test_missing_x11_libraries_are_named_with_the_packages_to_install(x11_session, monkeypatch, capsys):
    _ldd_says(monkeypatch, LDD_WITHOUT_ICCCM)
    opened = []
    monkeypatch.setattr("fourier_masks.app.main.run_app", lambda *a, **k: opened.append(a) or 0)
    assert launch.main([]) == 2 and opened == []  # Qt is never started
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "needs libxcb-icccm.so.4, libxcb-keysyms.so.1" in lines[0]
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in lines[0]
    assert "sudo dnf install xcb-util-keysyms xcb-util-wm" in lines[0]


def test_libxcb_cursor_is_looked_for_as_qt_loads_it(x11_session, monkeypatch):
    _ldd_says(monkeypatch, "\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n")
    monkeypatch.setattr(launch.ctypes.util, "find_library", lambda name: None if name == "xcb-cursor" else "x")
    assert launch.missing_x11_libraries() == ["libxcb-cursor.so.0"]


def test_nothing_is_checked_where_qt_will_not_use_x11(x11_session, monkeypatch):
    _ldd_says(monkeypatch, LDD_WITHOUT_ICCCM)
    assert launch.missing_x11_libraries() == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "")  # set but empty: Qt still picks X11
    assert launch.missing_x11_libraries() == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert launch.missing_x11_libraries() == []
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("DISPLAY")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert launch.missing_x11_libraries() == []


def test_a_library_without_a_known_package_is_still_named(x11_session, monkeypatch):
    _ldd_says(monkeypatch, "\tlibxcb-icccm.so.4 => not found\n\tlibwhatever.so.7 => not found\n")
    message = launch._missing_libraries_message(launch.missing_x11_libraries())
    assert "libwhatever.so.7" in message and "libxcb-icccm4" in message
