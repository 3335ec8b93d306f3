"""A job's process keeps the memory its tensors free, for the next step, instead of handing it back.

On Linux, glibc's ``malloc`` serves a block over its mmap threshold (128 KiB at first, at most 32 MiB
as it adapts) with a fresh mapping and unmaps it when freed, and trims the top of its heap past a
trim threshold. A CPU forward/backward pass allocates and frees the same tens of megabytes of
activations every step, so every step pays the kernel again for zeroed pages (page faults: the
``sys`` time of a CPU job). Raising both thresholds lets a step reuse the last step's memory:
efficientnet_lite0, 224 px, 1 thread, forward and backward per input: 35 ms instead of 43 at
batches of 4, 34 instead of 47 at 16 (``python -m benchmarks allocator``). The process keeps its
peak memory until it ends, which a job's process does soon anyway.

It is a setting of the whole process, so only a process that runs jobs makes it (the command line
and a launcher's workers, :func:`netviz.cli.hydra_job`), never ``import netviz`` or ``netviz.run``
in someone else's. ``NETVIZ_KEEP_FREED_MEMORY=0`` leaves malloc as it is, and
so does a ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` already in the environment.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD_BYTES = 512 << 20  # blocks under this come from the heap (a 224 px batch's activations do)
TRIM_THRESHOLD_BYTES = 1 << 30  # free memory at the heap's top kept for reuse

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Make this process's glibc malloc keep freed blocks for reuse (once); whether it does now."""
    global _done
    if _done is None:
        _done = _configure()
    return _done


def _configure() -> bool:
    if not sys.platform.startswith("linux") or os.environ.get("NETVIZ_KEEP_FREED_MEMORY") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False  # the user has chosen
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
