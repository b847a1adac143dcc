"""A pinned mmap threshold gives large freed buffers back, where glibc's moving one keeps them.

Each case runs in a fresh interpreter (the threshold is process-wide, and glibc moves it
for good the first time a mapped block is freed), doing what a worker's batches do: free
one big fetch buffer, then allocate buffers of a few hundred KB between small long-lived
objects, and free the buffers. The RSS it keeps afterwards is the creep a soak sees.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from clv_stream.worker.memory import ENV_OVERRIDE, pin_mmap_threshold

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator")

SCRIPT = """
import os, sys
from clv_stream.worker.memory import pin_mmap_threshold
pinned = pin_mmap_threshold(int(sys.argv[1]))
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
big = bytearray(8 * 1024 * 1024); del big        # a fetch buffer, mapped and freed
before = rss()
keep, buffers = [], []
for i in range(200):                              # a batch's buffers, small objects between
    buffers.append(bytearray(400 * 1024))
    keep.append(bytes(600))  # past pymalloc (512 B): from the C heap too
del buffers
kept_mb = (rss() - before) / 2**20
print(pinned, round(kept_mb, 1))
"""


def _kept_after(threshold: int) -> tuple[bool, float]:
    env = {k: v for k, v in os.environ.items() if k != ENV_OVERRIDE}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(threshold)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0] == "True", float(out[1])


def test_freed_batch_buffers_go_back_to_the_system_with_a_pinned_threshold() -> None:
    pinned, kept = _kept_after(128 * 1024)
    assert pinned
    assert kept < 10, f"{kept} MB of 78 MB freed buffers still resident"


def test_glibcs_moving_threshold_keeps_them() -> None:
    """The case the setting exists for (``CLV_MALLOC_MMAP_THRESHOLD=0``)."""
    pinned, kept = _kept_after(0)
    assert not pinned
    assert kept > 40, f"only {kept} MB kept: glibc no longer keeps freed heap buffers?"


def test_an_operators_environment_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_OVERRIDE, "65536")
    assert not pin_mmap_threshold(128 * 1024)


def test_a_worker_process_is_tuned_once_and_tuning_again_changes_nothing() -> None:
    script = ("import gc\nfrom clv_stream.worker.memory import GC_THRESHOLDS, tune_process\n"
              "tune_process(128 * 1024); first = gc.get_threshold()\n"
              "tune_process(128 * 1024); print(first == gc.get_threshold() == GC_THRESHOLDS)")
    env = {k: v for k, v in os.environ.items() if k != ENV_OVERRIDE}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "True"
