"""One writer per run folder: an advisory lock a job holds on the folder for as long as it
writes into it.

Why a second writer is refused rather than given a share of the work: one job already
parallelises its own masks (over the slots of a batch, and over Ray workers with
``--cluster``), so a second job on the same run adds no speed; and two jobs splitting the
pending ids of a group would each show a progress bar and an ETA for a share of the work
that neither can know (the other may stop, or start later), while two trainings of one
model would leave the model of one beside the table of the other. So the second job is
refused before it starts any work, with :class:`~fourier_masks.core.errors.RunInUseError`
naming the process that holds the run.

How: the file ``.lock`` in the run folder is locked by the kernel (``flock`` on POSIX,
``msvcrt.locking`` on Windows), and the kernel drops that lock when its process ends, however
it ends: a killed job never leaves its run locked. ``.lock.json`` beside it names the holder
(pid, host, command, start time) for the message a second writer gets; it is removed on
release, and one left by a killed process is stale: only the kernel lock says whether a run
is in use. On a filesystem without kernel locks (some network shares) the holder file is the
lock itself, created exclusively; one that names a process of this host that no longer runs
is stale and replaced.

Within one process the lock is re-entrant (counted): the app's window holds a run and runs
several jobs one after another, and the engine may open the same run twice. A forked child
(a data-loader worker) closes its copy of the locked file at once, so a child that outlives
a killed parent does not keep the run locked.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import socket
import sys
import threading
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import OutputError, RunInUseError
from ..files import atomic_write_text

__all__ = [
    "HOLDER_FILE",
    "LOCK_FILE",
    "Holder",
    "RunLock",
    "command_line",
    "holds_lock",
    "lock_run",
    "refuse_if_in_use",
]

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.json"

# errno values that say "this filesystem has no locks", not "someone holds it"
_NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
_HELD_BY_OTHER = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)}


@dataclass(frozen=True)
class Holder:
    """Who writes a run: what ``.lock.json`` records."""

    pid: int
    host: str
    command: str
    since: str  # ISO 8601, local time

    @classmethod
    def of_this_process(cls, command: str | None = None) -> Holder:
        return cls(os.getpid(), socket.gethostname(), command or command_line(), time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def describe(self) -> str:
        """``pid 1234 on host h, `fourier-masks train ...`, since 10:02``."""
        try:
            started = time.strptime(self.since, "%Y-%m-%dT%H:%M:%S%z")
            today = time.strftime("%Y-%m-%d") == time.strftime("%Y-%m-%d", started)
            when = time.strftime("%H:%M" if today else "%Y-%m-%d %H:%M", started)
        except ValueError:
            when = self.since
        return f"pid {self.pid} on host {self.host}, `{self.command}`, since {when}"

    def is_stale(self) -> bool:
        """Whether the holder is known to have ended: a process of this host that no longer runs
        (a process on another host cannot be checked from here)."""
        return self.host == socket.gethostname() and not _process_alive(self.pid)


def command_line(limit: int = 160) -> str:
    """This process's command line as typed (``fourier-masks masks image --model …``), cut to
    ``limit`` characters: what the holder file (one line of a message) and, longer, a run's
    provenance name a command-line job by."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program == "__main__.py":
        program = "python -m fourier_masks"
    text = " ".join([program, shlex.join(sys.argv[1:])]).rstrip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate it there
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False  # an impossible pid (negative, too large) names no process
    return True


def _read_holder(root: Path) -> Holder | None:
    """The holder ``.lock.json`` names, or None when it is missing or unreadable."""
    try:
        raw = json.loads((root / HOLDER_FILE).read_text(encoding="utf-8"))
        holder = Holder(**{k: raw[k] for k in ("pid", "host", "command", "since")})
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    if not (
        isinstance(holder.pid, int) and all(isinstance(v, str) for v in (holder.host, holder.command, holder.since))
    ):
        return None
    return holder


def _live_holder(root: Path) -> Holder | None:
    """The holder ``.lock.json`` names unless it is known to have ended (one of a killed job,
    read before the new holder wrote its own, is never named)."""
    holder = _read_holder(root)
    return holder if holder is not None and not holder.is_stale() else None


def _in_use(root: Path, holder: Holder | None, *, holder_is_lock: bool = False) -> RunInUseError:
    who = f" ({holder.describe()})" if holder is not None else ""
    advice = "wait for it to finish or write into another run folder"
    if holder_is_lock:  # no kernel lock: a holder on another host that died cannot be told from a live one
        advice += f" (if that job no longer runs, delete {root / HOLDER_FILE})"
    return RunInUseError(f"{root} is being written by another Fourier Masks job{who}; {advice}")


def _kernel_lock(fd: int) -> bool:
    """Lock ``fd`` without waiting: True when locked, False when another process holds it;
    ``_NoKernelLocks`` where the filesystem has no locks."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _HELD_BY_OTHER:
            return False
        if exc.errno in _NO_LOCKS:
            raise _NoKernelLocks from exc
        raise
    return True


class _NoKernelLocks(Exception):
    pass


@dataclass
class _Held:
    """This process's lock on one run folder: the locked file (None where the holder file is
    the lock) and how many holds are open."""

    root: Path
    fd: int | None
    count: int = 0


_HELD: dict[str, _Held] = {}
_MUTEX = threading.RLock()  # one lock operation at a time in this process (two of our own fds would conflict)


def _key(root: Path) -> str:
    return os.path.normcase(os.path.realpath(root))


def _open_lock_file(root: Path) -> int:
    try:
        return os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited by programs it starts
    except OSError as exc:
        raise OutputError(
            f"{root} cannot be locked for writing ({exc.strerror or exc}); write into a folder you can write to"
        ) from None


def _write_holder(root: Path, holder: Holder) -> None:
    atomic_write_text(root / HOLDER_FILE, json.dumps(asdict(holder), indent=2) + "\n")


def _claim_holder_file(root: Path, holder: Holder) -> None:
    """Without kernel locks: the holder file is the lock, made whole beside its place and
    linked into it (a link fails when the file exists, and never shows half a file)."""
    draft = atomic_write_text(root / f"{HOLDER_FILE}.{os.getpid()}", json.dumps(asdict(holder), indent=2) + "\n")
    try:
        for _ in range(3):
            try:
                os.link(draft, root / HOLDER_FILE)
                return
            except FileExistsError:
                other = _read_holder(root)
                if other is None or not other.is_stale():
                    raise _in_use(root, other, holder_is_lock=True) from None
                (root / HOLDER_FILE).unlink(missing_ok=True)  # its process has ended
            except OSError as exc:
                raise OutputError(
                    f"{root} cannot be locked for writing ({exc.strerror or exc}); write into a local folder"
                ) from None
        raise _in_use(root, _read_holder(root), holder_is_lock=True)
    finally:
        draft.unlink(missing_ok=True)


def _acquire(root: Path, command: str | None) -> _Held:
    fd = _open_lock_file(root)
    try:
        locked = _kernel_lock(fd)
    except _NoKernelLocks:
        os.close(fd)
        _claim_holder_file(root, Holder.of_this_process(command))
        return _Held(root, None)
    except OSError as exc:
        os.close(fd)
        raise OutputError(f"{root} cannot be locked for writing ({exc.strerror or exc})") from None
    if not locked:
        os.close(fd)
        raise _in_use(root, _live_holder(root))
    try:
        _write_holder(root, Holder.of_this_process(command))
    except OutputError:
        os.close(fd)
        raise
    return _Held(root, fd)


def _unlock(held: _Held) -> None:
    (held.root / HOLDER_FILE).unlink(missing_ok=True)
    if held.fd is not None:
        if sys.platform == "win32":
            import msvcrt

            try:
                msvcrt.locking(held.fd, msvcrt.LK_UNLCK, 1)
            except OSError:
                pass  # closing releases it too
        os.close(held.fd)


class RunLock:
    """One hold on a run folder's write lock (:func:`lock_run`): a context manager, or call
    :meth:`release`; a hold nothing refers to any more is given back when it is collected.
    The folder stays locked while any hold of this process is open."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = root
        self._release = weakref.finalize(self, _drop_hold, key)

    @property
    def released(self) -> bool:
        return not self._release.alive

    def release(self) -> None:
        """Give this hold back (again: nothing); the last one unlocks the folder."""
        self._release()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _drop_hold(key: str) -> None:
    with _MUTEX:
        held = _HELD.get(key)
        if held is None:
            return  # a forked child's copy: the hold is its parent's
        held.count -= 1
        if held.count == 0:
            del _HELD[key]
            _unlock(held)


def lock_run(root: str | os.PathLike, command: str | None = None) -> RunLock:
    """A hold on ``root``'s write lock, taken without waiting; :class:`RunInUseError` naming
    the holder when another process writes into the folder. ``command`` is what the holder
    file shows to a second writer (default: this process's command line)."""
    root = Path(root)
    key = _key(root)
    with _MUTEX:
        held = _HELD.get(key)
        if held is None:
            held = _HELD[key] = _acquire(root, command)
        held.count += 1
    return RunLock(root, key)


def holds_lock(root: str | os.PathLike) -> bool:
    """Whether this process holds ``root``'s write lock."""
    with _MUTEX:
        return _key(Path(root)) in _HELD


def refuse_if_in_use(root: str | os.PathLike) -> None:
    """:class:`RunInUseError` when another process holds ``root``'s write lock; nothing when
    this process holds it or nobody does (the check a store not locked for writing makes
    before each write)."""
    root = Path(root)
    with _MUTEX:
        if _key(root) in _HELD or not (root / LOCK_FILE).exists() and not (root / HOLDER_FILE).exists():
            return
        try:
            fd = os.open(root / LOCK_FILE, os.O_RDWR)
        except OSError:
            fd = None  # no lock file (holder-file locking), or a folder we cannot lock: the holder file says
        try:
            locked = _kernel_lock(fd) if fd is not None else None
        except (_NoKernelLocks, OSError):
            locked = None
        finally:
            if fd is not None:
                os.close(fd)  # unlocks what the probe locked
        if locked is False:
            raise _in_use(root, _live_holder(root))
        if locked is None and (holder := _live_holder(root)) is not None:
            raise _in_use(root, holder, holder_is_lock=True)


def _forget_in_child() -> None:
    """In a forked child: close the inherited locked files without unlocking them (they stay
    the parent's), and hold nothing."""
    global _MUTEX
    for held in _HELD.values():
        if held.fd is not None:
            try:
                os.close(held.fd)
            except OSError:
                pass
    _HELD.clear()
    _MUTEX = threading.RLock()  # another thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
