"""How busy a finished run kept the cores: from Snakemake's job records and benchmark files.

Snakemake records, for every output file, the start and end time of the job that wrote it
(``.snakemake/metadata`` of the working folder the run was started in). Jobs are those
records grouped by rule and times. From them:

- the span, from the first job's start to the last job's end;
- the job slots in use over the span (a job counts as one slot: every rule of this workflow
  asks for one thread): ``slot use`` is the time-mean of min(running jobs, cores) / cores,
  and ``idle core-s`` the core-seconds with no job to run;
- the CPU seconds of the jobs that write a benchmark file (``{output_dir}/benchmarks``): a
  lower bound on the CPU work, as the small local rules write none;
- the time-line, in ten equal slices, and the rules that ran longest.

    python benchmarks/demo_utilisation.py --workdir . --benchmarks results/demo/benchmarks \
        --cores 2 [--wall-s 612] [--name demo_utilisation]

writes ``results/benchmarks/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from summary import write_report

OUT = Path("results/benchmarks")
SLICES = 10


@dataclass(frozen=True)
class Job:
    """One job of the run: its rule and when it ran (seconds since the epoch)."""

    rule: str
    start: float
    end: float


def read_jobs(workdir: Path) -> list[Job]:
    """The run's jobs, from the metadata records of ``workdir/.snakemake/metadata``."""
    folder = workdir / ".snakemake" / "metadata"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist: give --workdir the folder snakemake ran in"
        )
    # A job writes one record per output, with the same hash and end but the start taken
    # per file a few microseconds apart: one job is the records of one (rule, hash).
    spans: dict[tuple[str, int], tuple[float, float]] = {}
    for path in folder.iterdir():
        record = json.loads(path.read_text())
        if record.get("incomplete") or record.get("starttime") is None:
            continue
        key = (record["rule"], record["job_hash"])
        start, end = record["starttime"], record["endtime"]
        if key in spans:
            start, end = min(start, spans[key][0]), max(end, spans[key][1])
        spans[key] = (start, end)
    if not spans:
        raise ValueError(f"{folder}: no finished job recorded")
    jobs = [Job(rule, start, end) for (rule, _), (start, end) in spans.items()]
    return sorted(jobs, key=lambda job: (job.start, job.end, job.rule))


def benchmark_cpu_seconds(folder: Path | None) -> tuple[float, int]:
    """Total CPU seconds and number of the benchmark files under ``folder``."""
    if folder is None or not folder.is_dir():
        return 0.0, 0
    total, count = 0.0, 0
    for path in folder.rglob("*.tsv"):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if rows and rows[-1].get("cpu_time") not in (None, "", "NA", "-"):
            total += float(rows[-1]["cpu_time"])
            count += 1
    return total, count


def running_profile(jobs: list[Job]) -> list[tuple[float, float, int]]:
    """(from, to, running jobs) over the span: the step function of jobs in flight."""
    events = sorted([(j.start, 1) for j in jobs] + [(j.end, -1) for j in jobs])
    profile, running, last = [], 0, events[0][0]
    for time, delta in events:
        if time > last:
            profile.append((last, time, running))
        running += delta
        last = time
    return profile


def slot_use(profile: list[tuple[float, float, int]], cores: int, lo: float, hi: float) -> float:
    """Time-mean of min(running, cores) / cores over [lo, hi]."""
    busy = 0.0
    for start, end, running in profile:
        overlap = min(end, hi) - max(start, lo)
        if overlap > 0:
            busy += overlap * min(running, cores)
    return busy / (cores * (hi - lo)) if hi > lo else 0.0


def summarise(
    jobs: list[Job], cores: int, cpu_s: float, cpu_jobs: int, wall_s: float | None
) -> dict:
    """The figures of the module docstring, as one JSON-ready dict."""
    first, last = jobs[0].start, max(job.end for job in jobs)
    span = last - first
    profile = running_profile(jobs)
    use = slot_use(profile, cores, first, last)
    by_rule: dict[str, list[float]] = defaultdict(list)
    for job in jobs:
        by_rule[job.rule].append(job.end - job.start)
    width = span / SLICES
    timeline = [
        {
            "from_s": round(i * width, 1),
            "to_s": round((i + 1) * width, 1),
            "slot_use": round(
                slot_use(profile, cores, first + i * width, first + (i + 1) * width), 3
            ),
        }
        for i in range(SLICES)
    ]
    rules = sorted(by_rule.items(), key=lambda item: -sum(item[1]))
    return {
        "cores": cores,
        "jobs": len(jobs),
        "span_s": round(span, 1),
        "wall_s": wall_s,
        "slot_use": round(use, 3),
        "idle_core_s": round((1 - use) * cores * span, 1),
        "benchmarked_cpu_s": round(cpu_s, 1),
        "benchmarked_jobs": cpu_jobs,
        "cpu_use_lower_bound": round(cpu_s / (cores * span), 3) if span else 0.0,
        "timeline": timeline,
        "rules": [
            {"rule": rule, "jobs": len(times), "job_s_total": round(sum(times), 1),
             "job_s_max": round(max(times), 1)}
            for rule, times in rules
        ],
    }  # fmt: skip


def markdown(summary: dict) -> str:
    """The summary as a short Markdown report."""
    lines = [
        "# Core use of a finished run",
        "",
        f"{summary['jobs']} jobs over {summary['span_s']:.0f} s from the first job's start to "
        f"the last job's end"
        + (f" ({summary['wall_s']:.0f} s wall for the whole command)" if summary["wall_s"] else "")
        + f", on {summary['cores']} cores.",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| job slots in use (time-mean) | {summary['slot_use']:.0%} |",
        f"| idle core-seconds (no job ready or running) | {summary['idle_core_s']:.0f} |",
        f"| CPU seconds of the {summary['benchmarked_jobs']} benchmarked jobs | "
        f"{summary['benchmarked_cpu_s']:.0f} |",
        f"| CPU use, lower bound (benchmarked CPU-s / core-s of the span) | "
        f"{summary['cpu_use_lower_bound']:.0%} |",
        "",
        "Slot use per tenth of the span:",
        "",
        "| from s | to s | slots in use |",
        "| ---: | ---: | ---: |",
        *(f"| {t['from_s']:.0f} | {t['to_s']:.0f} | {t['slot_use']:.0%} |" for t in summary["timeline"]),
        "",
        "Rules by total job time:",
        "",
        "| rule | jobs | job-s total | longest job s |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| `{r['rule']}` | {r['jobs']} | {r['job_s_total']:.0f} | {r['job_s_max']:.0f} |"
            for r in summary["rules"]
        ),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("."), help="where snakemake ran")
    parser.add_argument("--benchmarks", type=Path, help="the run's benchmarks folder")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--wall-s", type=float, help="the whole command's wall time, if known")
    parser.add_argument("--name", default="demo_utilisation")
    args = parser.parse_args(argv)
    cpu_s, cpu_jobs = benchmark_cpu_seconds(args.benchmarks)
    summary = summarise(read_jobs(args.workdir), args.cores, cpu_s, cpu_jobs, args.wall_s)
    write_report(OUT, args.name, summary, markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
