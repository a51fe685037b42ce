"""Per-job costs of a finished run, per rule, from the rules' `benchmark:` files.

Every heavy rule writes one snakemake benchmark TSV per job under `{output_dir}/benchmarks/`
(wall seconds, peak RSS, CPU seconds, mean load). This groups them by rule (and by dataset
for the per-dataset rules) and prints a Markdown table: jobs, median and max wall seconds,
median and total CPU seconds, max peak RSS. CPU seconds are the figure to scale from on a
shared machine: wall time stretches with the load, CPU time much less. A train job that runs
every split of a run (`batch_splits: true`; likewise a combination, classical or merge ablation
job) is counted apart, as `train, all splits (ds)`.

    python benchmarks/job_costs.py results/demo/benchmarks [--json costs.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from pathlib import Path

# The per-split rules: (benchmark folder, regex of what stands between it and the split,
# rule key). `batch_splits: true` makes one job of every split, benchmarked as `splits.tsv`.
PER_SPLIT = [
    ("train", r"(\w+)/[^/]+", "train"),
    ("lego_merge", r"(\w+)", "merge"),
    ("lego_merge_adaptive", r"(\w+)", "merge_adaptive"),
    ("naive_mc", r"(\w+)", "naive_mc"),
    ("damc", r"(\w+)", "damc"),
    ("lego_fuse", r"(\w+)", "fuse"),
    ("(?:coxnet|logistic|gbm)", r"(\w+)", "classical"),
    ("merge_ablation", r"(\w+)", "merge_ablation"),
    ("tune", r"(\w+)/[^/]+", "tune_shared"),
]


def _per_split_patterns():
    for folder, middle, rule in PER_SPLIT:
        yield re.compile(rf"^{folder}/{middle}/split\d+\.tsv$"), lambda m, r=rule: f"{r} ({m[1]})"
        yield (
            re.compile(rf"^{folder}/{middle}/splits\.tsv$"),
            lambda m, r=rule: f"{r}, all splits ({m[1]})",
        )


# Benchmark paths of workflow/rules/*.smk (relative to the benchmarks folder) -> rule key.
PATTERNS = [
    (re.compile(r"^generate_demo_(\w+)\.tsv$"), lambda m: f"generate_demo_{m[1]}"),
    (re.compile(r"^_mimic/[^/]+\.tsv$"), lambda m: "mimic_extract"),
    (re.compile(r"^tables\.tsv$"), lambda m: "tables"),
    (re.compile(r"^latent_interference\.tsv$"), lambda m: "latent_interference"),
    (re.compile(r"^unpaired/split\d+\.tsv$"), lambda m: "unpaired_train"),
    *_per_split_patterns(),
    (re.compile(r"^(\w+)/features/\w+/shard\d+\.tsv$"), lambda m: f"encode_shard ({m[1]})"),
    (re.compile(r"^(\w+)/features/\w+/[^/]+\.tsv$"), lambda m: f"encode_slide ({m[1]})"),
    (re.compile(r"^(\w+)/build_bags_\w+\.tsv$"), lambda m: f"build_bags ({m[1]})"),
    (re.compile(r"^(\w+)/tables\.tsv$"), lambda m: f"read_tables_{m[1]}"),
    # A generic dataset reads each table modality in a job of its own.
    (re.compile(r"^(\w+)/tables_(\w+)\.tsv$"), lambda m: f"read_table_{m[1]}_{m[2]}"),
    # Any other job whose benchmark is {step}/{ds}/...: named after its step and dataset.
    (re.compile(r"^(\w+)/(\w+)/"), lambda m: f"{m[1]} ({m[2]})"),
    (re.compile(r"^([^/]+)\.tsv$"), lambda m: m[1]),
]


def rule_of(relative: str) -> str | None:
    for pattern, name in PATTERNS:
        if match := pattern.match(relative):
            return name(match)
    return None


def read_benchmark(path: Path) -> dict[str, float]:
    """The last row of a snakemake benchmark TSV (one row per repeat; the rules use one)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: no benchmark row")
    row = rows[-1]

    def number(key: str) -> float:
        value = row.get(key, "NA")
        return float("nan") if value in ("NA", "-", "") else float(value)

    return {
        "wall_s": number("s"),
        "cpu_s": number("cpu_time"),
        "max_rss_mb": number("max_rss"),
        "mean_load": number("mean_load"),
    }


def summarise(folder: Path) -> dict[str, dict[str, float]]:
    """Rule key -> jobs, wall/CPU seconds and peak memory of its benchmark files."""
    by_rule: dict[str, list[dict[str, float]]] = {}
    for path in sorted(folder.rglob("*.tsv")):
        rule = rule_of(path.relative_to(folder).as_posix())
        if rule is None:
            raise ValueError(f"{path}: not a benchmark path of any rule; update PATTERNS")
        by_rule.setdefault(rule, []).append(read_benchmark(path))
    summary = {}
    for rule, rows in sorted(by_rule.items()):
        wall = [r["wall_s"] for r in rows]
        cpu = [r["cpu_s"] for r in rows]
        summary[rule] = {
            "jobs": len(rows),
            "wall_s_median": statistics.median(wall),
            "wall_s_max": max(wall),
            "cpu_s_median": statistics.median(cpu),
            "cpu_s_total": sum(cpu),
            "max_rss_mb": max(r["max_rss_mb"] for r in rows),
            "mean_load": statistics.mean(r["mean_load"] for r in rows),
        }
    return summary


def format_table(summary: dict[str, dict[str, float]]) -> str:
    lines = [
        "| rule | jobs | wall s (median / max) | CPU s (median / total) | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for rule, s in summary.items():
        lines.append(
            f"| `{rule}` | {s['jobs']} | {s['wall_s_median']:.1f} / {s['wall_s_max']:.1f} "
            f"| {s['cpu_s_median']:.1f} / {s['cpu_s_total']:.0f} | {s['max_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a run's benchmarks folder")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    summary = summarise(args.folder)
    print(format_table(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
