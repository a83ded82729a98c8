"""Files written all or nothing, names that cannot leave the folder they are meant for, and
arrays read back only once their bytes are known to hold what their headers say (a truncated
or bit-flipped ``.npy``/``.npz`` raises :class:`FileDamage`, never asks for gigabytes)."""

from __future__ import annotations

import math
import os
import re
import struct
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, OutputError

__all__ = [
    "DECODE_ERRORS",
    "FileDamage",
    "atomic_write_bytes",
    "atomic_write_text",
    "ensure_writable_dir",
    "name_from_file",
    "npy_header",
    "npz_headers",
    "read_npy",
    "read_npz",
    "safe_name",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def safe_name(name: str) -> str:
    """Check a store-relative name (``a/b-c``): plain segments only, so nothing read from a
    file or typed by a user can place a file outside the run folder."""
    parts = name.split("/")
    if not name or any(not _NAME.match(p) or p in (".", "..") for p in parts):
        raise ConfigError(
            f"invalid result name {name!r}: use letters, digits, '.', '_' and '-' (and '/' between parts)"
        )
    return name


def name_from_file(path: str | os.PathLike) -> str:
    """A store-safe name from a file's name: ``modèle 1.pt`` → ``mod-le-1``."""
    return store_name(Path(path).stem)


def store_name(text: str) -> str:
    """``text`` as a store-safe name: ``timm/resnet50.a1 in1k`` → ``timm-resnet50.a1-in1k``."""
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in text).strip(".-")
    return name or "model"


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove it is writable; :class:`OutputError` otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{path} exists and is not a folder; choose another output folder") from None
    except NotADirectoryError:
        raise OutputError(f"{path} cannot be created: part of that path is a file") from None
    except PermissionError:
        raise OutputError(f"{path} cannot be created (permission denied); choose another output folder") from None
    except OSError as exc:
        raise OutputError(f"{path} cannot be created: {exc.strerror or exc}") from None
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputError(f"{path} is not writable ({exc.strerror or exc}); choose another output folder") from None
    return path


def current_umask() -> int:
    """The process's file-creation mask, read without changing it where Linux shows it (setting
    it, even back, would race with threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = current_umask()


def atomic_write_bytes(path: Path, data: bytes, *, overwrite: bool = True, read_only: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename (all or nothing), with the
    permissions the user's umask gives a new file (``read_only``: no one may write it)."""
    path = Path(path)
    if not overwrite and path.exists():
        raise OutputError(f"{path} already exists and results are never overwritten")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, (0o444 if read_only else 0o666) & ~_UMASK)  # mkstemp's own is 0600
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        hint = " (disk full? free some space or choose another folder)" if getattr(exc, "errno", None) == 28 else ""
        raise OutputError(f"could not write {path}: {exc.strerror or exc}{hint}") from None
    return path


def atomic_write_text(path: Path, text: str, **kwargs: Any) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), **kwargs)


# --- arrays read back, checked ----------------------------------------------------------------


class FileDamage(Exception):
    """A file's bytes do not hold what they should (the message says what); the caller
    turns it into an error naming the file and what to do."""


# What decoding a damaged .npy/.npz raises: a bit flip in a zip header can surface as almost
# any of these (an "encrypted" flag is a RuntimeError, an unknown compression NotImplemented),
# and one in an array's header as a tokenizer's or parser's error (numpy parses it as Python).
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    RecursionError,
    tokenize.TokenError,
    ValueError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    RuntimeError,
    NotImplementedError,
    struct.error,
    zipfile.BadZipFile,
    zlib.error,
    FileDamage,
)


def _array_header(stream, size: int) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, order and dtype a ``.npy`` stream of ``size`` bytes declares, checked
    against its size (so a truncated or bit-flipped header never asks for memory it does not
    describe); the stream is left at the array's first byte."""
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(stream)
    else:
        raise FileDamage(f"unknown .npy version {version}")
    if dtype.hasobject:
        raise FileDamage("it holds Python objects")
    expected = stream.tell() + math.prod(shape) * dtype.itemsize
    if size != expected:
        raise FileDamage(f"{size} bytes where its header says {expected}")
    return tuple(shape), fortran, dtype


def _read_array(stream, size: int) -> np.ndarray:
    """The array of a ``.npy`` stream, its header checked first, its data read in chunks (a
    zip member's checksum is checked as its last chunk is read)."""
    shape, fortran, dtype = _array_header(stream, size)
    flat = np.empty(math.prod(shape), dtype=dtype)
    buffer = flat.view(np.uint8).data  # a memoryview of its bytes
    filled = 0
    while filled < len(buffer):
        got = stream.readinto(buffer[filled : filled + 2**20])
        if not got:
            raise FileDamage("it ends before its data does")
        filled += got
    return flat.reshape(shape[::-1]).transpose() if fortran else flat.reshape(shape)


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """A ``.npy`` file's shape and dtype, checked against its size."""
    with open(path, "rb") as stream:
        shape, _, dtype = _array_header(stream, os.fstat(stream.fileno()).st_size)
    return shape, dtype


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's shape and dtype, read from the archive's directory and the arrays' headers
    (their data is read, and its checksum checked, only when loaded)."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            _check_ratio(info)
            with archive.open(info) as stream:
                shape, _, dtype = _array_header(stream, info.file_size)
            headers[info.filename.removesuffix(".npy")] = (shape, dtype)
    return headers


def read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` file's array, its header checked first (no pickles)."""
    with open(path, "rb") as stream:
        return _read_array(stream, os.fstat(stream.fileno()).st_size)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file, each header checked before its data is read (no
    pickles); reading each array to its end checks its checksum."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            _check_ratio(info)
            with archive.open(info) as stream:
                arrays[info.filename.removesuffix(".npy")] = _read_array(stream, info.file_size)
    return arrays


def _check_ratio(info: zipfile.ZipInfo) -> None:
    if info.file_size > 64 * info.compress_size + 2**20:  # an inflation bomb, or a flipped size
        raise FileDamage(f"{info.filename} claims {info.file_size} bytes from {info.compress_size}")
