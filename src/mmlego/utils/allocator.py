"""Keep the memory of freed tensors in the process, so each step reuses it (glibc only).

glibc's malloc serves a large request (above a threshold that starts at 128 KiB and adapts)
with a fresh ``mmap`` and returns it to the system when it is freed, and it trims the top of
the heap once 128 KiB or more is free there. A training or inference step frees and re-creates
the same few-MB activations every step, so without this every step maps them again and takes
a page fault per 4 KiB page on first touch: on the LegoBlock benchmarks that was a quarter to a
third of a tabular forward pass. Raising both thresholds makes freed blocks stay in the heap
for the next step. Peak memory is unchanged (the same tensors are live at the peak); what
changes is that the process keeps its peak until it exits, which suits a step that runs one
job and ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2, which is 32 MiB on 64-bit systems.
MMAP_THRESHOLD = 32 * 1024 * 1024
NEVER_TRIM = 2**31 - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; True when glibc accepted both.

    Elsewhere (macOS, musl) nothing changes and False is returned. Once per process: a batched
    job calls it for each of its steps."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
    )
