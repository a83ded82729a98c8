"""Device choice and the CPU allocator setting."""

import subprocess
import sys

import pytest

from fourier_masks.core.devices import resolve_device
from fourier_masks.core.errors import DeviceError


def test_auto_resolves_and_missing_devices_are_errors():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(DeviceError):
        resolve_device("tpu")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_tuned_allocator_reuses_large_blocks():
    """With the setting, a freed 64 MB tensor is reused rather than unmapped and faulted in again."""
    code = """
import resource, torch
from fourier_masks.core.devices import tune_cpu_allocator
def faults():
    for _ in range(3):
        torch.ones(16 * 2**20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.ones(16 * 2**20)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
plain = faults()
assert tune_cpu_allocator()
print(plain, faults())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    plain, tuned = map(int, out.stdout.split())
    assert plain > 20 * 10_000  # 16 384 pages of 4 KiB faulted in per tensor
    assert tuned < plain / 10
