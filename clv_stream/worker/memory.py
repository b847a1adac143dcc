"""How the worker process manages memory: the garbage collector's thresholds and the C
allocator's settings (glibc), applied once at start (:func:`tune_process`).

The collector: nearly every object of a batch dies by reference counting; with the default
thresholds (700, 10, 10) the collector still runs many times a batch and a full collection
of the worker's caches pauses it for long (p99 latency). So it collects young objects per
50,000 allocations instead, and the old ones rarely (:data:`GC_THRESHOLDS`).

The allocator: glibc serves a block of at least its *mmap threshold* (128 KiB at start) with a mapping of
its own, given back to the system on ``free``. But the threshold is dynamic: when such a
block is freed, it rises to that block's size (up to 32 MiB). The worker's fetch buffers
(up to ``CLV_FETCH_PARTITION_BYTES``, 4 MiB) are such blocks, so after the first one the
buffers of a batch (hundreds of KB to MBs: fetched records, the script argument, record
batches to produce) are carved from the heap instead, between long-lived small objects.
That heap's free space fragments and is not returned: RSS creeps up in a soak while
Python's objects and glibc's bytes in use stay flat (docs/performance.md, Soak). A fixed
threshold, as ``MALLOC_MMAP_THRESHOLD_`` sets it, keeps the heap from fragmenting, for the
cost of a mapping and its page faults per large block.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import platform

__all__ = ["ENV_OVERRIDE", "GC_THRESHOLDS", "pin_mmap_threshold", "tune_process"]

logger = logging.getLogger(__name__)

#: Set by an operator, glibc has applied it at start-up and it is left alone.
ENV_OVERRIDE = "MALLOC_MMAP_THRESHOLD_"
_M_MMAP_THRESHOLD = -3  # <malloc.h>
#: The garbage collector's thresholds in a worker process (see the module's docstring).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_process(mmap_threshold: int) -> None:
    """Set the worker process's collector thresholds and pin glibc's mmap threshold
    (``CLV_MALLOC_MMAP_THRESHOLD``). Call once at start, before the first fetch buffer is
    allocated; calling it again changes nothing."""
    gc.set_threshold(*GC_THRESHOLDS)
    pin_mmap_threshold(mmap_threshold)


def pin_mmap_threshold(nbytes: int) -> bool:
    """Fix glibc's mmap threshold at ``nbytes`` (which also stops it moving).

    Returns whether it was set: not when ``nbytes`` is 0, when ``MALLOC_MMAP_THRESHOLD_`` is
    in the environment, or on another C library (musl, macOS), where nothing is changed.
    """
    if nbytes <= 0 or ENV_OVERRIDE in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # pragma: no cover - glibc always has it
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, nbytes))
    if not done:  # pragma: no cover - only for values above glibc's maximum (32 MiB)
        logger.warning("could not set glibc's mmap threshold to %d bytes", nbytes)
    return done
