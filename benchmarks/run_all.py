"""``make bench``: run every benchmark of this folder, then write ``summary.md``.

Each benchmark runs in its own process, one after the other (they would distort each
other's timings if run together), with its output in ``results/benchmarks/logs/<name>.log`` (run from the repository root). A benchmark
that fails is listed in the summary with its log, and the others still run. ``--quick``
gives every benchmark smaller sizes (a smoke run of the whole set, minutes instead of hours);
its figures are not the ones to quote.

The benchmarks that read a finished demo study (``job_costs``, ``baselines_demo``) run when
``--demo`` holds one; the side-by-side one needs the anchors folder (``--anchors``).

    python benchmarks/run_all.py [--quick] [--only a,b] [--anchors ../shared/anchors]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from summary import write_summary

HERE = Path(__file__).resolve().parent
OUT = Path("results/benchmarks")  # where every benchmark of this folder writes


def plan(args: argparse.Namespace) -> dict[str, list[str] | str]:
    """Benchmark name → its arguments, or the reason it cannot run here."""
    quick = args.quick
    steps: dict[str, list[str] | str] = {
        "train_loop": ["train_loop.py", *(["--quick"] if quick else [])],
        "lego_block": ["lego_block.py", *(["--quick"] if quick else [])],
        "ts_profile": ["ts_profile.py", *(["--steps", "2"] if quick else [])],
        "cluster_costs": ["cluster_costs.py"],
        "small_study": ["small_study.py", *(["--splits", "2"] if quick else [])],
        "baselines_learning": ["baselines_learning.py"],
        "generator_scale": ["generator_scale.py"]
        + (["--slide-size", "4000", "--stays", "500"] if quick else []),
        "mimic_extract": ["mimic_extract.py"]
        + (["--stays", "2000", "--chart-rows", "2000000"] if quick else []),
        "encode": ["encode_benchmark.py"]
        + (
            ["--patches", "16", "--naive-patches", "4", "--sweep-batches", "", "--repeats", "1"]
            if quick
            else []
        ),
    }
    anchors = args.anchors / "bench_official.py"
    steps["anchors"] = (
        ["anchors.py", "--anchors", str(args.anchors), *(["--only", "ts"] if quick else [])]
        if anchors.exists()
        else f"not run: {anchors} not found (give --anchors)"
    )
    demo_benchmarks = args.demo / "benchmarks"
    if demo_benchmarks.is_dir():
        steps["job_costs"] = [
            "job_costs.py",
            str(demo_benchmarks),
            "--json",
            str(OUT / "job_costs.json"),
        ]
        steps["baselines_demo"] = ["baselines_demo.py"]
        # The job records are in .snakemake/ of the folder make demo ran in: this one.
        steps["demo_utilisation"] = [
            "demo_utilisation.py", "--workdir", ".", "--benchmarks", str(demo_benchmarks),
        ]  # fmt: skip
    else:
        reason = f"not run: no finished demo in {args.demo}"
        steps["job_costs"] = steps["baselines_demo"] = steps["demo_utilisation"] = reason
    if args.only:
        wanted = set(args.only.split(","))
        steps = {name: step for name, step in steps.items() if name in wanted}
    return steps


def run(name: str, step: list[str], logs: Path) -> str | None:
    """Run one benchmark; returns None on success, else the reason it failed."""
    log = logs / f"{name}.log"
    start = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.run(
            [sys.executable, str(HERE / step[0]), *step[1:]],
            stdout=handle,
            stderr=subprocess.STDOUT,
        ).returncode
    print(f"{name}: exit {code} after {time.perf_counter() - start:.0f} s (log {log})", flush=True)
    return None if code == 0 else f"exit code {code}, see {log}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchors", type=Path, default=Path("../shared/anchors"))
    parser.add_argument("--demo", type=Path, default=Path("results/demo"))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default=None, help="comma list of benchmark names")
    args = parser.parse_args()
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    for name, step in plan(args).items():
        if isinstance(step, str):
            failures[name] = step
            print(f"{name}: {step}", flush=True)
            continue
        reason = run(name, step, logs)
        if reason:
            failures[name] = reason
    print(write_summary(OUT, failures))


if __name__ == "__main__":
    main()
