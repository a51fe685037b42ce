"""What a snakemake start costs: the dry run of a small study, this checkout against another.

snakemake runs the Snakefile and every rule file's imports at each start: each run and dry
run of the test suite, and twice in every SLURM job (the job's snakemake and the jobstep's).
This benchmark writes a small generic study (two tables, LegoBlocks and LegoMerge) to a
temporary folder and dry-runs it ``--repeats`` times per checkout, alternating the two so that
load falls on both alike. Per checkout: the median CPU and wall seconds of one dry run, and
the heavy packages the parse imported (``python -X importtime``).

    python benchmarks/workflow_parse.py [--other OTHER_CHECKOUT] [--repeats 5] \
        [--name workflow_parse]

writes ``results/benchmarks/<name>.{json,md}``. ``--other`` runs that checkout's Snakefile
with its ``src`` first on ``PYTHONPATH`` (the same venv).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from child_time import run_timed
from step_imports import parse_importtime
from summary import write_report

OUT = Path("results/benchmarks")
HERE = Path(__file__).resolve().parents[1]
N = 40


def write_study(root: Path) -> Path:
    """A generic survival study of two tables; returns its config file."""
    rng = np.random.default_rng(0)
    ids = [f"p{i:02d}" for i in range(N)]
    risk = rng.normal(size=N)
    labels = {"pid": ids, "months": np.exp(-risk) * 20 + 1, "dead": rng.integers(0, 2, N)}
    pd.DataFrame(labels).to_csv(root / "labels.csv", index=False)
    for name in ("clin", "genes"):
        table = pd.DataFrame(risk[:, None] + rng.normal(size=(N, 3)), columns=["a", "b", "c"])
        table.insert(0, "pid", ids)
        table.to_csv(root / f"{name}.csv", index=False)
    modalities = {
        m: {"type": "tabular", "path": str(root / f"{m}.csv"), "id": "pid"}
        for m in ("clin", "genes")
    }
    label_spec = {"path": str(root / "labels.csv"), "id": "pid", "time": "months", "event": "dead"}
    config = {
        "output_dir": str(root / "out"),
        "device": "cpu",
        "splits": {"repeats": 1},
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "survival",
                "labels": label_spec,
                "modalities": modalities,
            }
        },
        "models": ["lego_block", "lego_merge"],
    }
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def dry_run(
    checkout: Path, config: Path, workdir: Path, importtime: bool
) -> tuple[float, float, str]:
    """(CPU s, wall s, stderr) of one ``snakemake -n`` of ``config`` with ``checkout``'s code."""
    python = os.path.abspath(sys.executable)  # the venv's, even when PATH named it relatively
    exe = shutil.which("snakemake", path=str(Path(python).parent)) or "snakemake"
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    command = [python, *(["-X", "importtime"] if importtime else []), exe]
    command += ["--snakefile", str(checkout / "Snakefile"), "--directory", str(workdir)]
    command += ["--configfile", str(config), "-n", "--cores", "1", "--quiet"]
    done, wall, cpu = run_timed(command, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{checkout}: the dry run failed:\n{done.stderr[-2000:]}")
    return cpu, wall, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, default=None, help="another checkout to compare")
    parser.add_argument("--repeats", type=int, default=5, help="dry runs per checkout")
    parser.add_argument("--name", default="workflow_parse", help="report name")
    args = parser.parse_args()
    checkouts = {"this": HERE} | ({"other": args.other.resolve()} if args.other else {})
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    heavy: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        config = write_study(Path(scratch))
        for name, checkout in checkouts.items():  # once under importtime, not timed
            _, _, stderr = dry_run(checkout, config, Path(scratch), importtime=True)
            heavy[name] = {k: round(v, 2) for k, v in sorted(parse_importtime(stderr)[1].items())}
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                cpu, wall, _ = dry_run(checkout, config, Path(scratch), importtime=False)
                times[name].append((cpu, wall))
    load = os.getloadavg()[0]
    rows = {
        name: {
            "cpu_s": round(statistics.median(c for c, _ in runs), 2),
            "wall_s": round(statistics.median(w for _, w in runs), 2),
            "heavy_imports": heavy[name],
        }
        for name, runs in times.items()
    }
    lines = [
        f"Median of {args.repeats} dry runs of a two-table study per checkout, alternated (load"
        f" average {load:.1f} at the end; wall seconds stretch with load, CPU seconds less).",
        "",
        "| checkout | CPU s | wall s | heavy packages the parse imported (cumulative s) |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, row in rows.items():
        listed = ", ".join(f"{k} {v}" for k, v in row["heavy_imports"].items() if k != "numpy")
        lines.append(f"| {name} | {row['cpu_s']} | {row['wall_s']} | {listed} |")
    write_report(OUT, args.name, {"load_average": load, "checkouts": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
