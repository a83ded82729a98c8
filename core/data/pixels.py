"""Image sets too large for memory: prepared images decoded once into an 8-bit file on disk and
read back a batch at a time.

A float copy of ImageNet's 50 000 validation images at 224 px is 30 GB; as 8-bit pixels in a
memory-mapped file it is 7.5 GB of disk that the operating system pages in as batches are
read and drops again when memory is short. :class:`Pixels` is that file as a tensor which every
operation sees as floats in [0, 1]: indexing converts only the rows taken (the batched access
of the mask learners, attacks and evaluations), anything else converts the whole (correct, not
streamed). 8 bits per pixel after resizing and cropping is what torchvision's PIL pipeline
(``Resize`` then ``CenterCrop`` then ``ToTensor``) gives a model too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_map

from ..errors import BadImageError, ConfigError
from ..preparation import Preparation

# The float bytes of a folder's prepared images above which it is streamed from disk.
STREAM_ABOVE_BYTES = 1 << 30

_PASS_THROUGH = {
    torch.Tensor.size,
    torch.Tensor.dim,
    torch.Tensor.__len__,
    torch.Tensor.shape.__get__,  # type: ignore[attr-defined]
    torch.Tensor.ndim.__get__,  # type: ignore[attr-defined]
    torch.Tensor.device.__get__,
    torch.Tensor.numel,
}


class Pixels(torch.Tensor):
    """8-bit images (usually a memory-mapped file) that behave as float images in [0, 1]."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.__getitem__:
            rows = args[0].as_subclass(torch.Tensor)[args[1]]
            return rows.float().div_(255)
        if func in _PASS_THROUGH:
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)

        def as_float(x: Any) -> Any:
            return x.as_subclass(torch.Tensor).float().div(255) if isinstance(x, Pixels) else x

        with torch._C.DisableTorchFunctionSubclass():
            return func(*tree_map(as_float, args), **tree_map(as_float, kwargs))

    def rows(self, index: torch.Tensor) -> Pixels:
        """The rows ``index`` as 8-bit pixels in memory (a subset that stays 4× smaller than floats)."""
        return self.as_subclass(torch.Tensor)[index].as_subclass(Pixels)


def take_rows(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``images[index]``, kept 8-bit when they are :class:`Pixels` (a subset of a streamed set
    stays 4× smaller than its floats); ``index`` may be a boolean mask."""
    if not isinstance(images, Pixels):
        return images[index]
    index = torch.as_tensor(index)
    return images.rows(index.nonzero().flatten() if index.dtype == torch.bool else index)


def streaming_wanted(size_as_floats: int) -> bool:
    """Whether images of this many float bytes are streamed: above :data:`STREAM_ABOVE_BYTES`,
    unless ``FOURIER_MASKS_STREAM`` says ``always`` or ``never``."""
    choice = os.environ.get("FOURIER_MASKS_STREAM", "auto").strip().lower()
    if choice not in ("auto", "always", "never"):
        raise ConfigError(f"FOURIER_MASKS_STREAM={choice!r}: use auto, always or never")
    return choice == "always" or (choice == "auto" and size_as_floats > STREAM_ABOVE_BYTES)


def float_bytes(count: int, channels: int, size: int) -> int:
    return count * channels * size * size * 4


def cache_dir() -> Path:
    """Where decoded images are kept: ``$FOURIER_MASKS_HOME/cache/pixels`` when that is set,
    else the platform's user cache folder. Delete it freely: it is rebuilt when needed."""
    home = os.environ.get("FOURIER_MASKS_HOME")
    if home:
        return Path(home) / "cache" / "pixels"
    import platformdirs

    return Path(platformdirs.user_cache_dir("fourier-masks")) / "pixels"


def decode_to_disk(
    files: Sequence[Path],
    channels: int,
    preparation: Preparation,
    decode: Callable[[Path, int, Preparation], torch.Tensor],
    *,
    workers: int | None = None,
) -> tuple[Pixels, list[int], list[str]]:
    """``files`` decoded and prepared by ``decode`` (in a pool of threads: Pillow and the
    resize release the interpreter lock) into an 8-bit file in :func:`cache_dir`, reused while
    the files, their sizes and times and the preparation are the same. Returns the images,
    the positions of the files that were read, and the messages of those that were not."""
    size = preparation.size
    key = hashlib.sha256(
        json.dumps(
            [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
            + [channels, preparation.size, preparation.resize, preparation.interpolation]
        ).encode()
    ).hexdigest()[:24]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    data, index = folder / f"{key}.u8", folder / f"{key}.json"
    shape = (len(files), channels, size, size)
    if data.is_file() and index.is_file():
        done = json.loads(index.read_text())
        return _mapped(data, shape), done["read"], done["problems"]
    partial = data.with_suffix(".partial")
    array = np.memmap(partial, dtype=np.uint8, mode="w+", shape=shape)

    def one(k: int) -> str | None:
        try:
            image = decode(files[k], channels, preparation)
        except BadImageError as exc:
            return str(exc)
        array[k] = (image * 255).round().clamp_(0, 255).to(torch.uint8).numpy()
        return None

    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(one, range(len(files))))
    array.flush()
    os.replace(partial, data)
    read = [k for k, problem in enumerate(outcomes) if problem is None]
    problems = [problem for problem in outcomes if problem is not None]
    index.write_text(json.dumps({"read": read, "problems": problems}))
    return _mapped(data, shape), read, problems


def _mapped(path: Path, shape: tuple[int, ...]) -> Pixels:
    """The file as pixels; copy-on-write, so nothing done to them reaches the cache."""
    return torch.from_numpy(np.memmap(path, dtype=np.uint8, mode="c", shape=shape)).as_subclass(Pixels)
