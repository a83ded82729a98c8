"""What software and hardware a job that wrote into a run ran on: its provenance.

A run is often made in several jobs (a study stopped and resumed, masks added to a run made
by another machine). A mask learned with another PyTorch, NumPy or CUDA, or on another
device, may differ in its last bits from the one an uninterrupted run would have learned, so
``run.json`` keeps each writing job's provenance (:meth:`~.store.ResultsStore.record_provenance`)
and a job whose setup differs from the last one recorded says so once, as a notice.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..devices import resolve_device

__all__ = ["COMPARED", "PROVENANCE_FIELDS", "RAY_CLUSTER", "Provenance", "describe_differences"]

RAY_CLUSTER = "Ray cluster"  # how the device of a job on a Ray cluster is recorded: "Ray cluster ADDRESS"

JobDevice = torch.device | str  # named here: in Provenance, its field ``torch`` hides the module

# What a job's results depend on: a resumed job that differs in one of these may learn other masks.
COMPARED = ("fourier_masks", "torch", "numpy", "cuda", "cudnn", "device", "gpu")


@dataclass(frozen=True)
class Provenance:
    """One job's software and hardware. ``device``: where it computed (``cpu``, ``cuda:0``,
    ``mps``, or ``Ray cluster ADDRESS``); ``gpu``: the CUDA device's name; ``cuda`` and
    ``cudnn``: the versions it computed with (None off CUDA); ``command``: the command line
    as typed, or the app's job (``the Fourier Masks app (New study…)``), as the run's lock
    names its holder; ``started``: when the job first wrote into the run."""

    fourier_masks: str
    python: str
    torch: str
    numpy: str
    torchvision: str | None
    platform: str
    machine: str
    cpu: str | None
    device: str
    gpu: str | None
    cuda: str | None
    cudnn: str | None
    command: str
    started: str

    @classmethod
    def of_this_process(cls, device: JobDevice, command: str) -> Provenance:
        """This process's versions and platform, and the job's ``device`` and ``command``."""
        where, gpu, cuda, cudnn = _device_details(device)
        return cls(
            fourier_masks=_product_version(),
            python=platform.python_version(),
            torch=torch.__version__,
            numpy=np.__version__,
            torchvision=_package_version("torchvision"),
            platform=platform.platform(),
            machine=platform.machine(),
            cpu=_cpu_name(),
            device=where,
            gpu=gpu,
            cuda=cuda,
            cudnn=cudnn,
            command=command,
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Each field's JSON types in run.json (a reader refuses others, naming the field).
PROVENANCE_FIELDS: dict[str, tuple[type, ...]] = {
    name: (str,) if name in ("fourier_masks", "python", "torch", "numpy", "device", "command") else (str, type(None))
    for name in Provenance.__dataclass_fields__
}


def describe_differences(earlier: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two provenance records in what results depend on (:data:`COMPARED`),
    said as ``torch 2.4.0 → 2.5.1`` or ``device cpu → cuda:0 (NVIDIA H200)``. A field the
    earlier record lacks (a version that did not record it) is not a difference."""
    said = [
        f"{_LABELS.get(name, name)} {earlier[name] or 'none'} → {now.get(name) or 'none'}"
        for name in COMPARED
        if name not in ("device", "gpu") and name in earlier and earlier[name] != now.get(name)
    ]
    if any(name in earlier and earlier[name] != now.get(name) for name in ("device", "gpu")):
        said.append(f"device {_where(earlier)} → {_where(now)}")
    return said


_LABELS = {"fourier_masks": "Fourier Masks", "cuda": "CUDA", "cudnn": "cuDNN"}


def _where(record: dict[str, Any]) -> str:
    device, gpu = record.get("device"), record.get("gpu")
    return f"{device} ({gpu})" if gpu else str(device)


def _device_details(device: JobDevice) -> tuple[str, str | None, str | None, str | None]:
    """(device, GPU name, CUDA version, cuDNN version) of the device a job computes on."""
    if isinstance(device, str) and device.startswith(RAY_CLUSTER):
        return device, None, None, None  # its workers' devices are theirs to know
    where = resolve_device(device)
    if where.type != "cuda":
        return str(where), None, None, None
    index = where.index if where.index is not None else torch.cuda.current_device()
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return (
        f"cuda:{index}",
        torch.cuda.get_device_name(index),
        torch.version.cuda,
        None if cudnn is None else str(cudnn),
    )


def _product_version() -> str:
    """``fourier_masks.__version__``, found by the package's name (the engine's own imports are
    relative, and its type checker knows it as ``core``)."""
    package = importlib.import_module(__name__.split(".")[0])
    return str(getattr(package, "__version__", "unknown"))


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _cpu_name() -> str | None:
    """The CPU's model name where it is cheap to know (Linux's /proc/cpuinfo; elsewhere what
    :func:`platform.processor` says, which may be empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None
