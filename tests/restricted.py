"""Checks that need a process unable to write where the test process can.

As a normal user, ``chmod`` takes write permission away; as root (containers, many CI
images) permissions do not stop a write, and a check of what the code does with a folder it
cannot write would pass whatever the code does, or be skipped. So the check runs in a child
Python that really cannot write the folder:

1. as the user ``nobody`` (``setpriv``; root only), the folder owned by ``nobody`` with no
   write permission, not even for its owner;
2. failing that, as root in a private mount namespace where the folder is a read-only bind
   mount (``unshare`` + ``mount``; root only, and the mount is gone with the child);
3. as a normal user, in this process, after ``chmod``.

The child imports the same ``fourier_masks`` as the tests (checked, so a mutated copy on
``PYTHONPATH`` is what runs). The test is skipped only where none of these works, with the
reasons.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import fourier_masks

# The first line every child prints: who it runs as and which package it imported.
_PREAMBLE = "import os, sys, fourier_masks; print(os.geteuid(), fourier_masks.__file__, flush=True)\n"

# Strategies that failed once in this process, with why (each is tried again never).
_FAILED: dict[str, str] = {}


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A fresh folder a child running as ``nobody`` can reach (pytest's ``tmp_path`` lies
    under a folder only its owner may enter); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="fourier-masks-restricted-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        for path in (folder, *folder.rglob("*")):
            with contextlib.suppress(OSError):
                path.chmod(0o700 if path.is_dir() else 0o600)
        shutil.rmtree(folder, ignore_errors=True)


def _ids(name: str) -> tuple[int, int] | None:
    import grp
    import pwd

    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return None
    for group in ("nogroup", "nobody"):
        with contextlib.suppress(KeyError):
            return uid, grp.getgrnam(group).gr_gid
    return None


def _child_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONDONTWRITEBYTECODE="1", HOME=str(home), FOURIER_MASKS_HOME=str(home))
    return env


def _run(
    command: list[str], code: str, args: list[str], cwd: Path, env: dict[str, str], *, root: bool
) -> tuple[str | None, str]:
    """Run the child; (its output after the preamble, "") or (None, why it could not run).
    ``root``: whether the child is meant to run as root (else as another user)."""
    try:
        done = subprocess.run(
            [*command, sys.executable, "-c", _PREAMBLE + code, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{command[0]}: {exc}"
    first, _, rest = done.stdout.partition("\n")
    if not first:
        return None, f"{command[0]}: the child did not start (exit {done.returncode}): {done.stderr.strip()[-300:]}"
    uid, _, package = first.partition(" ")
    expected = fourier_masks.__file__
    if package != expected:
        return None, f"{command[0]}: the child imported {package}, not {expected}"
    if (uid == "0") != root:
        return None, f"{command[0]}: the child ran as user {uid}"
    if done.returncode != 0:
        raise AssertionError(f"the check failed in the child (exit {done.returncode}):\n{done.stderr}")
    return rest, ""


def run_unable_to_write(code: str, folder: Path) -> str:
    """Run the Python ``code`` with ``sys.argv[1]`` = ``folder`` in a process that can read
    but not write ``folder`` (see the module doc); return what it printed.

    ``folder`` must lie in a :func:`scratch_folder`. The child's exceptions fail the test;
    a child that cannot start moves on to the next way, and none left skips the test."""
    reasons = []
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return _in_process(code, folder)
        finally:
            folder.chmod(0o755)
    home = folder.parent / ".home"
    home.mkdir(exist_ok=True)
    ids = _ids("nobody")
    if "nobody" in _FAILED:
        reasons.append(_FAILED["nobody"])
    elif ids is None or shutil.which("setpriv") is None:
        reasons.append("no user nobody (or group nogroup) or no setpriv")
    else:
        uid, gid = ids
        for path in (folder, home):
            os.chown(path, uid, gid)
        folder.chmod(0o555)
        command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        output, why = _run(command, code, [str(folder)], folder.parent, _child_env(home), root=False)
        if output is not None:
            return output
        _FAILED["nobody"] = why
        reasons.append(why)
        folder.chmod(0o755)
    if "mount" in _FAILED:
        reasons.append(_FAILED["mount"])
    elif shutil.which("unshare") is None:
        reasons.append("no unshare for a read-only mount")
    else:
        # Mounted, and proved read-only (a kernel that ignores "ro" on a bind mount would not be).
        script = 'mount --bind -o ro "$0" "$0" && ! mkdir "$0/.probe" 2>/dev/null && exec "$@"'
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(folder)]
        output, why = _run(command, code, [str(folder)], folder.parent, _child_env(home), root=True)
        if output is not None:
            return output
        _FAILED["mount"] = why
        reasons.append(why)
    pytest.skip("no way to run a check without write permission here: " + "; ".join(reasons))


def _in_process(code: str, folder: Path) -> str:
    """A normal user: permissions hold in this process already."""
    import io
    from contextlib import redirect_stdout

    printed = io.StringIO()
    argv = sys.argv
    sys.argv = ["-c", str(folder)]
    try:
        with redirect_stdout(printed):
            exec(compile(code, "<check>", "exec"), {"__name__": "__check__"})
    finally:
        sys.argv = argv
    return printed.getvalue()
