"""Run one child process and measure it: shared by the benchmarks that time a command.

The CPU seconds are the child's own (user + system, from ``RUSAGE_CHILDREN`` before and after),
so other processes on a shared machine stretch the wall time but hardly the CPU time.
"""

from __future__ import annotations

import resource
import subprocess
import time
from typing import Any, NamedTuple


class Timed(NamedTuple):
    """A finished child process, its wall seconds and its CPU seconds."""

    done: subprocess.CompletedProcess
    wall_s: float
    cpu_s: float


def run_timed(argv: list[str], **kwargs: Any) -> Timed:
    """``subprocess.run(argv, **kwargs)`` with the child's wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(done, wall, cpu)
