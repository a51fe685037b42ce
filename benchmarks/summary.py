"""``results/benchmarks/summary.md``: every benchmark's report on one page.

:func:`write_report` is how a benchmark writes its own report (JSON and Markdown).

The page starts with the figures issue 16 asks for, in this order: the side-by-side table
against the released code (``anchors.md``), the training loop against the bare block and the
block's GFLOP/s against the matmul ceiling (``train_loop.md``), the demo's wall time, core
utilisation and per-job fixed cost, and the encode and MIMIC-extraction rates; then the other
benchmarks' reports. A benchmark that has not written its report yet appears as "not measured
yet", with the reason, never as a number.

    python benchmarks/summary.py [--out results/benchmarks]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
from pathlib import Path

from machine import load_average

from mmlego.utils.atomic import write_json_atomic, write_text_atomic

# (title, report file, what to do when it is missing)
HEADLINE = (
    ("Side by side with the released code", "anchors.md", "run `benchmarks/anchors.py`"),
    ("Training loop vs the bare block; GFLOP/s", "train_loop.md", "run `benchmarks/train_loop.py`"),
)
LATER = ("Per-job fixed cost (start-up, imports, store loading)",)
LATER_REASON = (
    "not measured yet: needs the workflow refactor (several runs per job, "
    "keeping both cores busy); measured in a later round"
)
RATES = (
    (
        "Demo wall time and core use",
        "demo_utilisation.md",
        "run `benchmarks/demo_utilisation.py` after `make demo`",
    ),
    ("Patch encoding", "encode.md", "run `benchmarks/encode_benchmark.py`"),
    ("MIMIC-III extraction", "mimic_extract.md", "run `benchmarks/mimic_extract.py`"),
)
OTHERS = (
    ("LegoBlock and LegoMerge cost", "lego.md"),
    ("The time-series LegoBlock's training step, per op", "ts_profile.md"),
    ("A small study, one job per split vs batched splits", "small_study.md"),
    ("Per-job costs at paper scale (docs/scaling.md)", "cluster_costs.json"),
    ("Generator at scale", "generator_scale.md"),
    ("Do the baselines combine modalities?", "baselines_learning.md"),
    ("The demo's baselines", "baselines_demo.md"),
)


def commit() -> str:
    """The checkout's commit (with ``+dirty`` for uncommitted changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def section(title: str, path: Path, missing: str) -> list[str]:
    """A ``##`` section holding the report at ``path`` (Markdown, or JSON as a code block)."""
    lines = [f"## {title}", ""]
    if not path.exists():
        return [*lines, f"Not measured yet ({path.name} missing: {missing}).", ""]
    text = path.read_text(encoding="utf-8").strip()
    if path.suffix == ".json":
        text = "```json\n" + json.dumps(json.loads(text), indent=1) + "\n```"
    return [*lines, f"From `{path.name}`:", "", text, ""]


def render(folder: Path, failures: dict[str, str] | None = None) -> str:
    """The summary page of the reports in ``folder``; ``failures`` maps benchmark → reason."""
    lines = [
        "# Benchmarks",
        "",
        f"Commit {commit()}, written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average "
        f"{load_average():.1f} when written. Each report gives the load it saw; numbers taken on "
        "a shared machine are noisy, the ratios measured side by side in one run much less.",
        "",
    ]
    for title, name, missing in HEADLINE:
        lines += section(title, folder / name, missing)
    for title in LATER:
        lines += [f"## {title}", "", f"{LATER_REASON.capitalize()}.", ""]
    for title, name, missing in RATES:
        lines += section(title, folder / name, missing)
    for title, name in OTHERS:
        lines += section(title, folder / name, "its benchmark did not run")
    if failures:
        lines += ["## Benchmarks that failed", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in sorted(failures.items())]
        lines.append("")
    return "\n".join(lines)


def write_report(folder: Path, stem: str, payload: dict, text: str) -> None:
    """A benchmark's ``<stem>.json`` and ``<stem>.md`` in ``folder``, written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{stem}.json", payload)
    write_text_atomic(folder / f"{stem}.md", text)
    print(text)


def write_summary(folder: Path, failures: dict[str, str] | None = None) -> Path:
    path = folder / "summary.md"
    write_text_atomic(path, render(folder, failures))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = parser.parse_args()
    print(write_summary(args.out))


if __name__ == "__main__":
    main()
