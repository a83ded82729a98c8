"""Choosing the compute device."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import torch

from .errors import DeviceError

__all__ = ["resolve_device", "DEVICE_CHOICES", "tune_cpu_allocator"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Map ``auto``/``cpu``/``cuda[:i]``/``mps`` to an available :class:`torch.device`.

    ``auto`` prefers CUDA, then Apple's MPS, then the CPU. Asking for a device that is not
    there is an error rather than a silent fallback, so benchmarks never lie about where
    they ran.
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        # Checked here: torch.device() raises its own RuntimeError for "cuda:x" or "cudax".
        base, colon, index = name.partition(":")
        if base != "cuda" or (colon and not (index.isascii() and index.isdigit())):
            raise DeviceError(f"Unknown device {name!r}; give cuda or cuda:N, N the GPU's number (0, 1, …).")
        if not torch.cuda.is_available():
            raise DeviceError(
                "CUDA was requested but no CUDA GPU is available to PyTorch; use --device cpu or --device auto."
            )
        if colon and int(index) >= torch.cuda.device_count():
            raise DeviceError(f"{name} was requested but only {torch.cuda.device_count()} CUDA device(s) exist.")
        return torch.device(name)
    if name == "mps":
        if not _mps_available():
            raise DeviceError("MPS was requested but is not available; use --device cpu or auto.")
        return torch.device("mps")
    raise DeviceError(f"Unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}.")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_REUSE_BELOW_BYTES = 1 << 30


def tune_cpu_allocator() -> bool:
    """Let glibc's malloc reuse freed blocks of up to 1 GiB instead of returning them to the OS.

    Why: by default glibc serves every allocation over its mmap threshold (at most 32 MB; a
    batch of 64 images at 64×64 in the small CNN has larger activations) with a fresh mapping
    and unmaps it when freed, so every step maps them again and the kernel zero-fills their
    pages each time. Keeping the blocks costs nothing in peak memory, but the resident size no
    longer shrinks after a job. Called by the command line and the app; a no-op (returns
    False) off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _REUSE_BELOW_BYTES) and mallopt(_M_TRIM_THRESHOLD, 2 * _REUSE_BELOW_BYTES))
