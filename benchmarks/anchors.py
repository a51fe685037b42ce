"""The released MM-Lego code and ours, side by side through the anchors' ``bench_official.py``.

For each case of ``bench_official.py`` (tabular, bag and time-series LegoBlock training and
inference, and LegoMerge of a tabular and a bag block) this runs the released code in its own
venv and then ours through ``benchmarks/anchors_adapter.py``, one case after the other, so
both sides of a ratio are measured minutes apart under the same load. Each side runs every
case in a fresh process (peak RSS is that process's own); fp32, 2 torch threads, the median
of 5 iterations after 2 warm-ups, as ``bench_official.py`` does.

The released code needs a venv of its own, outside the repository (``--released-venv``,
default ``mmlego-anchor-venv`` in the system's temporary folder); it is created when missing,
with ``torch==2.13.0`` and the packages the anchors' README lists.

    python benchmarks/anchors.py [--anchors ../shared/anchors] [--only tab,ts,merge]

Writes ``anchors.json`` and ``anchors.md`` (samples/s of each side, the ratio, peak RSS and
the load average at the start and end) to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import anchors_adapter as adapter
import torch
from machine import counted_flops, load_average, matmul_ceiling
from summary import write_report

HERE = Path(__file__).resolve().parent
CASES = ("tab", "bag", "ts", "merge")
LABELS = {
    ("tab", "train"): "tabular 64 x 2914, train",
    ("tab", "infer"): "tabular, inference",
    ("bag", "train"): "bag 16 x 1000 x 1024, train",
    ("bag", "infer"): "bag, inference",
    ("ts", "train"): "time series 256 x 24 x 12, train",
    ("ts", "infer"): "time series, inference",
    ("merge", "merge"): "LegoMerge (tab + bag), inference",
}
RELEASED_PACKAGES = ("torch==2.13.0", "einops", "pot", "numpy", "psutil", "lightning", "tensorly")
RELEASED_PACKAGES += ("pandas",)


def released_python(venv: Path) -> Path:
    """The released code's interpreter; the venv is created when it does not exist yet."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *RELEASED_PACKAGES], check=True
        )
    return python


def run_side(python: Path, bench: Path, case: str, out: Path, adapter: Path | None) -> list[dict]:
    """``bench_official.py``'s results for ``case`` (its train/infer or merge runs)."""
    cmd = [str(python), str(bench), "--only", case, "--out", str(out)]
    if adapter is not None:
        cmd += ["--impl", str(adapter)]
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def flops_per_sample(results: list[dict]) -> dict[tuple[str, str], float]:
    """Our FLOPs per sample of each case, at the batch and shapes ``bench_official`` used."""
    torch.manual_seed(0)
    shapes = {r["case"]: (r["batch"], tuple(r["shape"])) for r in results if "shape" in r}
    blocks = {case: adapter.make_block(shape, 4) for case, (_, shape) in shapes.items()}
    inputs = {case: torch.randn(batch, *shape) for case, (batch, shape) in shapes.items()}
    flops: dict[tuple[str, str], float] = {}
    for r in results:
        key, batch = (r["case"], r["mode"]), r["batch"]
        if r["mode"] == "merge":
            if not {"tab", "bag"} <= set(blocks):
                continue  # the merge's blocks were not measured alone in this run
            merge = adapter.make_merge([blocks["tab"], blocks["bag"]], "slerp").eval()
            xs = [inputs["tab"][:batch], inputs["bag"][:batch]]
            op = functools.partial(adapter.merge_forward, merge, xs)
        elif r["mode"] == "train":
            op = functools.partial(backward_of, blocks[r["case"]].train(), inputs[r["case"]])
        else:
            op = functools.partial(blocks[r["case"]].eval(), inputs[r["case"]])
        with torch.set_grad_enabled(r["mode"] == "train"):
            flops[key] = counted_flops(op) / batch
    return flops


def backward_of(block: torch.nn.Module, x: torch.Tensor) -> None:
    block(x).sum().backward()


def side_by_side(released: list[dict], ours: list[dict], ceiling: float) -> list[dict]:
    """One row per case both sides measured: rates, ratio, peak RSS and our GFLOP/s."""
    mine = {(r["case"], r["mode"]): r for r in ours}
    flops = flops_per_sample(ours)
    rows = []
    for r in released:
        key = (r["case"], r["mode"])
        if key not in mine:
            continue
        o = mine[key]
        rows.append(
            {
                "case": LABELS.get(key, f"{key[0]} {key[1]}"),
                "released_samples_per_s": r["samples_per_s"],
                "ours_samples_per_s": o["samples_per_s"],
                "ratio": o["samples_per_s"] / r["samples_per_s"],
                "released_peak_rss_gb": r["peak_rss_MiB"] / 1024,
                "ours_peak_rss_gb": o["peak_rss_MiB"] / 1024,
                "ours_gflops": flops.get(key, float("nan")) * o["samples_per_s"] / 1e9,
                "ours_ceiling_fraction": flops.get(key, float("nan"))
                * o["samples_per_s"]
                / 1e9
                / ceiling,
            }
        )
    return rows


def markdown(report: dict) -> str:
    lines = [
        "| case | released code, samples/s | ours, samples/s | ratio | peak RSS, released → ours "
        "| ours, GFLOP/s (of ceiling) |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in report["rows"]:
        gflops = (
            f"{r['ours_gflops']:.1f} ({r['ours_ceiling_fraction']:.1%})"
            if math.isfinite(r["ours_gflops"])
            else "not counted (its blocks' cases did not run)"
        )
        lines.append(
            f"| {r['case']} | {r['released_samples_per_s']:,.2f} | {r['ours_samples_per_s']:,.1f} "
            f"| {r['ratio']:.1f}x | {r['released_peak_rss_gb']:.2f} → {r['ours_peak_rss_gb']:.2f} GB "
            f"| {gflops} |"
        )
    lines += [
        "",
        f"`bench_official.py` (fp32, 2 torch threads, median of 5 after 2 warm-ups), the released "
        f"code and ours run case by case in one session, OMP_WAIT_POLICY "
        f"{report['omp_wait_policy']}; load average "
        f"{report['load_average_start']:.1f} at the start, {report['load_average_end']:.1f} at "
        "the end. Compare the ratios, not the absolute rates. GFLOP/s: our matmul-class FLOPs "
        "per sample (torch's FlopCounterMode, the CPU attention kernel included; FFTs not "
        "counted) times our rate, against the best "
        f"fp32 square matmul at 2 threads measured after the cases: "
        f"{report['matmul_ceiling_gflops']:.1f} GFLOP/s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--anchors", type=Path, default=Path("../shared/anchors"))
    parser.add_argument(
        "--released-venv", type=Path, default=Path(tempfile.gettempdir()) / "mmlego-anchor-venv"
    )
    parser.add_argument("--only", default=",".join(CASES), help="comma list of " + ", ".join(CASES))
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = parser.parse_args()
    bench = args.anchors / "bench_official.py"
    if not bench.exists():
        raise SystemExit(f"{bench} not found: give the anchors folder with --anchors")
    python = released_python(args.released_venv)
    report: dict = {
        "load_average_start": load_average(),
        # Both sides inherit it; PASSIVE keeps 2-thread runs from collapsing on a busy machine.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "released": [],
        "ours": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.only.split(","):
            report["released"] += run_side(python, bench, case, Path(tmp) / "released.json", None)
            report["ours"] += run_side(
                Path(sys.executable),
                bench,
                case,
                Path(tmp) / "ours.json",
                HERE / "anchors_adapter.py",
            )
    report["load_average_end"] = load_average()
    report["matmul_ceiling_gflops"] = matmul_ceiling(torch.float32, 2)
    report["rows"] = side_by_side(
        report["released"], report["ours"], report["matmul_ceiling_gflops"]
    )
    write_report(args.out, "anchors", report, markdown(report))


if __name__ == "__main__":
    main()
