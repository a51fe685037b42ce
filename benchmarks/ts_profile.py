"""Where the time-series LegoBlock's training step goes: torch.profiler's per-op table.

The bare step of ``train_loop.py`` (forward, survival loss, backward, gradient clipping,
AdamW) at the MIMIC shape (24 steps x 12 variables, with a missingness mask), LegoBlock at the
reference defaults, batch 32 and 256, one torch thread (as the train jobs run). For each
batch size: the top ops by self CPU time, and their shares grouped as matmul (``mm``,
``addmm``), attention (its ``bmm`` calls and softmax, forward and backward), dropout's random
draw (numpy's PCG64, ``mmlego::dropout_mask``) and the rest (elementwise, layer norm, the
masks' comparison and conversion, optimiser, autograd bookkeeping).

Usage: ``python benchmarks/ts_profile.py [--out results/benchmarks] [--steps 8]``; writes
``ts_profile.json`` and ``ts_profile.md``. The profiler times wall clock, so on a busy machine
the shares are the figure to read; the load average is reported.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from machine import load_average
from summary import write_report
from torch.profiler import ProfilerActivity, profile
from train_loop import BareStep, Case, generated_split

GROUPS = {
    "matmul": ("aten::mm", "aten::addmm"),
    # The CPU attention is two bmm calls around a softmax (lego.small_attention); the encoder's
    # pooling einsum is a bmm too, a small one.
    "attention": ("aten::bmm", "aten::_softmax", "aten::_softmax_backward_data"),
    # numpy's PCG64 draw, inside the record_function of dropout.keep_mask (self time).
    "dropout draw": ("mmlego::dropout_mask", "aten::bernoulli_"),
}
TOP = 12


def profile_case(batch_size: int, steps: int) -> dict:
    """Per-op self CPU time of ``steps`` bare steps after three warm-up steps."""
    case = Case(f"time series 24 x 12, batch {batch_size}", "series", (24, 12), batch_size)
    step = BareStep(case, generated_split(case, max(2000, 2 * batch_size)))
    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    shares = {
        group: sum(e.self_cpu_time_total for e in events if e.key in names) / total
        for group, names in GROUPS.items()
    }
    shares["rest"] = 1.0 - sum(shares.values())
    return {
        "case": case.name,
        "steps": steps,
        "ms_per_step": total / steps / 1e3,
        "shares": shares,
        "top": [
            {
                "op": e.key,
                "calls_per_step": e.count / steps,
                "ms_per_step": e.self_cpu_time_total / steps / 1e3,
                "share": e.self_cpu_time_total / total,
            }
            for e in events[:TOP]
        ],
    }


def markdown(report: dict) -> str:
    lines = [
        f"The time-series LegoBlock's bare training step, profiled (torch.profiler, 1 torch "
        f"thread; load average {report['load_average_start']:.1f} at the start, "
        f"{report['load_average_end']:.1f} at the end).",
    ]
    for r in report["cases"]:
        s = r["shares"]
        lines += [
            "",
            f"**{r['case']}**: {r['ms_per_step']:.1f} ms of profiled self time per step; "
            f"matmul {s['matmul']:.0%}, attention {s['attention']:.0%}, dropout draw "
            f"{s['dropout draw']:.0%}, the rest {s['rest']:.0%}.",
            "",
            "| op | calls per step | ms per step | share |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| `{t['op']}` | {t['calls_per_step']:.0f} | {t['ms_per_step']:.2f} | "
            f"{t['share']:.1%} |"
            for t in r["top"]
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    parser.add_argument("--steps", type=int, default=8, help="profiled steps per batch size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict = {"load_average_start": load_average()}
    report["cases"] = [profile_case(batch, args.steps) for batch in (32, 256)]
    report["load_average_end"] = load_average()
    write_report(args.out, "ts_profile", report, markdown(report))


if __name__ == "__main__":
    main()
