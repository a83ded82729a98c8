"""How much of the machine one input may ask for.

A 140 KB PNG can claim 12 000 × 12 000 pixels, a 1 MB checkpoint can inflate to gigabytes, and
a model's metadata can claim a 60 000-px input: each is refused, with one clear line, before the
memory is asked for. The defaults leave room for every real case we know of (a 50-megapixel
photo, a ViT-H checkpoint, a 1024-px detector backbone); each can be raised for one process with
an environment variable, e.g. ``FOURIER_MASKS_MAX_IMAGE_PIXELS=200000000``.

A file is opened for reading only through :func:`open_input`, which refuses what no bound on
bytes can help with: a named pipe (reading waits forever for a writer), a device such as
``/dev/zero`` (reading never ends), a link loop, a file the user may not read. Names that are
not valid UTF-8 (:func:`shown`) are printed with their odd bytes escaped.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError, FourierMasksError

__all__ = ["Limits", "limits", "open_input", "shown", "size_text"]

ENV_PREFIX = "FOURIER_MASKS_"


@dataclass(frozen=True)
class Limits:
    """The bounds in force; :func:`limits` reads them, environment overrides included."""

    max_image_pixels: int = 64_000_000
    """Decoded pixels of one image file (width × height): a 64-megapixel photo takes ~190 MB."""

    max_checkpoint_bytes: int = 8 * 2**30
    """Total uncompressed size of a checkpoint's records, read from its zip directory before any
    record is inflated (ViT-H/14 in float32 is 2.5 GB)."""

    max_image_side: int = 4096
    """Input size of a model, from its metadata or ``--size``/``--model-size`` (one 4096² RGB
    image in float32 is 200 MB)."""

    max_channels: int = 1024
    """Input channels of a model, from its metadata (hyperspectral classifiers take a few
    hundred bands; a million-channel claim would ask for 200 GB per 224-px image)."""

    max_classes: int = 1_000_000
    """Classes of a model, from its metadata or a model folder's config (ImageNet-21k has
    21 843; a face-identity classifier a few hundred thousand)."""

    max_bands: int = 1024
    """Frequency bands of an energy profile (a 2048-px image has 1448 distinct radii)."""

    max_class_names_bytes: int = 16 * 2**20
    """A class-names file (ImageNet-21k's 21 843 names take 500 KB)."""

    def describe(self, name: str) -> str:
        """How to raise bound ``name``: its environment variable."""
        return f"{ENV_PREFIX}{name.upper()}"


def limits() -> Limits:
    """The bounds in force: the defaults, each replaced by its ``FOURIER_MASKS_<NAME>``
    environment variable when set (read at every call, so a test or a notebook can change it)."""
    values = {}
    for field in fields(Limits):
        variable = f"{ENV_PREFIX}{field.name.upper()}"
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{variable}={text!r}: expected a whole number; unset it or give one") from None
        if value < 1:
            raise ConfigError(f"{variable}={text!r}: must be ≥ 1; unset it or give a positive number")
        values[field.name] = value
    return Limits(**values)


def size_text(count: int) -> str:
    """Bytes for a message: ``1.5 GiB``, ``12.0 MiB``, ``976.6 KiB``, ``900 bytes``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def shown(text: str | os.PathLike) -> str:
    """A file name fit for a message or an id: bytes that are not UTF-8 (kept by Python as
    lone surrogates, which a log file or a window cannot show) escaped as ``\\xff``."""
    text = os.fspath(text)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes (a Windows name)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


_NOT_REGULAR = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
}


def open_input(path: Path, error: type[FourierMasksError], what: str, *, role: str = "") -> tuple[BinaryIO, int]:
    """``path`` opened for reading in binary, with its size: a regular file the user may
    read, else ``error`` saying "cannot read <role><path>: <why>" (``what``: what was
    expected, "an image file"; ``role``: what is read, "class names from ")."""
    cannot = f"cannot read {role}{shown(path)}"
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{cannot}: it is a folder, not {what}")
        if not stat.S_ISREG(info.st_mode):
            kind = _NOT_REGULAR.get(stat.S_IFMT(info.st_mode), "a special file")
            raise error(
                f"{cannot}: it is {kind}, not {what}, and reading it could wait forever or never end; save "
                "what it holds to a file and give that"
            )
        return path.open("rb"), info.st_size
    except FileNotFoundError:
        if path.is_symlink():
            raise error(f"{cannot}: it is a link to {shown(os.readlink(path))}, which does not exist") from None
        raise error(f"{cannot}: no such file") from None
    except PermissionError:
        raise error(
            f"{cannot}: permission denied; give yourself read access to it (and its folders), or copy it "
            "somewhere you can read"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{cannot}: it is a loop of symbolic links, not {what}") from None
        raise error(f"{cannot}: {exc.strerror or exc}") from None
