"""What the machine is and what it can do: shared by the benchmarks of this folder.

- :func:`cpu_info`: CPU model, cores, SIMD / matrix-unit flags, torch's view of them;
- :func:`matmul_ceiling`: the best sustained square-matmul GFLOP/s over a few sizes, per dtype
  and torch thread count, the ceiling that the models' achieved GFLOP/s are compared with;
- :func:`counted_flops`: matmul-class FLOPs of a call, the CPU attention kernel included;
- :func:`load_average`: the 1-minute load average, which every benchmark reports at its start
  and end (numbers taken on a shared machine are noisy; ratios taken side by side are not).

The benchmarks run as scripts (``python benchmarks/x.py``), so this folder is on ``sys.path``
and they import this module as ``machine``.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import (
    FlopCounterMode,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def threads_per_core() -> int | None:
    """Logical cores on cpu0's physical core as the OS sees it (SMT siblings share AMX)."""
    path = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
    if not path.exists():
        return None
    count = 0
    for part in path.read_text().strip().split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


def cpu_info() -> dict:
    """CPU model, logical cores and the SIMD / matrix-unit flags that decide bf16 speed."""
    flags: set[str] = set()
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "threads_per_core": threads_per_core(),
        "flags": {flag: flag in flags for flag in CPU_FLAGS},
        "amx": "amx_bf16" in flags,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    }


CEILING_SIZES = (1024, 2048, 4096)


def sustained_rate(
    op, flops: float, seconds: float = 2.0, span: float = 0.2, clock=time.perf_counter
) -> float:
    """Best GFLOP/s of ``op`` over passes of back-to-back calls lasting ``span`` s each.

    The same statistic as the model's rates (the best of several multi-call passes), so a
    short lucky call does not raise the ceiling; three warm-up calls come first. ``clock``
    is wall time by default; ``time.process_time`` gives GFLOP per CPU second, which other
    processes on a shared machine inflate much less.
    """
    for _ in range(3):
        op()
    best, start = 0.0, clock()
    while clock() - start < seconds:
        calls, t = 0, clock()
        while (elapsed := clock() - t) < span:
            op()
            calls += 1
        best = max(best, calls * flops / elapsed / 1e9)
    return best


def matmul_rate(dtype: torch.dtype, n: int, clock=time.perf_counter) -> float:
    """Sustained GFLOP/s of an n x n matmul in ``dtype`` into a reused output."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    c = torch.empty(n, n, dtype=dtype)
    return sustained_rate(lambda: torch.matmul(a, b, out=c), 2 * n**3, clock=clock)


def matmul_ceiling(
    dtype: torch.dtype = torch.float32, threads: int | None = None, clock=time.perf_counter
) -> float:
    """Best sustained GFLOP/s of a square matmul over :data:`CEILING_SIZES` at ``threads``.

    The rate peaks at a different size per dtype and thread count, and one size alone would
    flatter the model. The torch thread count is restored afterwards. ``clock`` as in
    :func:`sustained_rate`.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return max(matmul_rate(dtype, n, clock) for n in CEILING_SIZES)
    finally:
        torch.set_num_threads(before)


def _cpu_attention_flops(query, key, value, *_, **__) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out, query, key, value, *_, **__) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


# FlopCounterMode knows scaled_dot_product_attention's GPU kernels, not the CPU one that our
# cross-attention runs on: without these its q·kᵀ and attention·v FLOPs go uncounted.
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        _cpu_attention_backward_flops
    ),
}


def counted_flops(op) -> float:
    """Matmul-class FLOPs of one call of ``op``: matmuls and attention (CPU kernel included),
    2 per multiply-add; FFTs and elementwise work are not counted."""
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    with counter:
        op()
    return float(counter.get_total_flops())


def load_average() -> float:
    """The 1-minute load average (0.0 where the OS does not report one)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
