"""Paper-scale generation: one large slide, tile by tile, and a large MIMIC-like database.

Each case runs in its own process so its peak RSS is its own. What matters is that memory
stays flat as the output grows: a 40k-px slide is 4.8 GB of raw pixels, and a database
with 35k stays has tens of millions of chart rows; neither may be held in memory.

Run: ``.venv/bin/python benchmarks/generator_scale.py [--slide-size 40000] [--stays 35000]
[--chart-hours 96] [--extra-items 30] [--out /tmp/x]`` -> results/benchmarks/generator_scale.{json,md}
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mmlego.utils.atomic import write_json_atomic, write_text_atomic

OUT = Path("results/benchmarks")


def _slide(out: Path, size: int) -> dict:
    from mmlego.demo.slides import write_slide

    start = time.perf_counter()
    truth = write_slide(out / "large.tif", size=size, seed=0, tumour_fraction=0.5)
    seconds = time.perf_counter() - start
    return {
        "case": "slide",
        "level0_px": size,
        "seconds": round(seconds, 1),
        "megapixels_per_s": round(size * size / 1e6 / seconds, 1),
        "file_mb": round((out / "large.tif").stat().st_size / 1e6, 1),
        "raw_level0_mb": round(size * size * 3 / 1e6, 1),
        "tissue_fraction": round(truth.tissue_fraction, 3),
    }


def _mimic(out: Path, stays: int, hours: float, extra: int) -> dict:
    from mmlego.demo.mimic import generate_mimic

    start = time.perf_counter()
    generate_mimic(out / "mimic", stays=stays, seed=0, chart_hours=hours, extra_items=extra)
    seconds = time.perf_counter() - start
    with open(out / "mimic" / "CHARTEVENTS.csv", "rb") as handle:
        rows = sum(1 for _ in handle) - 1
    return {
        "case": "mimic",
        "stays": stays,
        "chart_hours": hours,
        "extra_items": extra,
        "chart_rows": rows,
        "seconds": round(seconds, 1),
        "chart_rows_per_s": round(rows / seconds),
        "chartevents_mb": round((out / "mimic" / "CHARTEVENTS.csv").stat().st_size / 1e6, 1),
    }


def _child(case: str, out: Path, args: argparse.Namespace) -> None:
    result = (
        _slide(out, args.slide_size)
        if case == "slide"
        else _mimic(out, args.stays, args.chart_hours, args.extra_items)
    )
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slide-size", type=int, default=20000)
    parser.add_argument("--stays", type=int, default=5000)
    parser.add_argument("--chart-hours", type=float, default=48.0)
    parser.add_argument("--extra-items", type=int, default=0, help="unrelated items per stay")
    parser.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--case", choices=["slide", "mimic"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        _child(args.case, Path(args.out), args)
        return
    results = []
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        for case in ("slide", "mimic"):
            command = [sys.executable, __file__, "--case", case, "--out", scratch]
            command += ["--slide-size", str(args.slide_size), "--stays", str(args.stays)]
            command += [
                "--chart-hours",
                str(args.chart_hours),
                "--extra-items",
                str(args.extra_items),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    write_json_atomic(OUT / "generator_scale.json", {"results": results})
    lines = [
        "| case | size | seconds | throughput | peak RSS (MB) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        if r["case"] == "slide":
            size = f"{r['level0_px']} px ({r['raw_level0_mb']} MB raw, {r['file_mb']} MB file)"
            rate = f"{r['megapixels_per_s']} MP/s"
        else:
            size = f"{r['stays']} stays, {r['chart_rows']} chart rows"
            rate = f"{r['chart_rows_per_s']} rows/s"
        lines.append(f"| {r['case']} | {size} | {r['seconds']} | {rate} | {r['peak_rss_mb']} |")
    write_text_atomic(OUT / "generator_scale.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
