"""A small study from its config to its report, one job per split against batched splits.

Writes a generic study of 150 patients with two tabular modalities (each carrying part of a
binary label's signal), runs lego_block, lego_merge and lego_fuse over 5 holdout splits, and
runs the whole workflow (every default target: tables, figures, the study overview) twice
from an empty output folder, side by side in one session: with ``batch_splits: false`` (one
job per split, as profiles/slurm plans it) and ``true`` (the local default: one job per
dataset and run for train, metrics, the combinations, ...). It reports the jobs and the wall
and CPU seconds of each, and checks that both runs wrote byte-identical predictions, metrics
checkpoints and training logs (``SOURCE_DATE_EPOCH`` fixes the time stamps; the seconds an
epoch took, in the training log and the metrics' ``train_seconds``, are left out). Results go to
``results/benchmarks/small_study.{json,md}``.

    .venv/bin/python benchmarks/small_study.py [--patients 150] [--splits 5] [--cores 2]

``--batched-only`` runs the batched study alone (no comparison), for the cost of many
repeats, e.g. ``--splits 20 --batched-only``; its report is ``small_study_batched_<N>``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from child_time import run_timed
from machine import load_average
from summary import write_report

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
OUT = Path("results/benchmarks")
EPOCH = "1700000000"
# The files compared between the two runs (provenance holds no path outside the study).
COMPARED = ("predictions.parquet", "metrics.json", "model.pt", "train_log.csv")


def write_study(root: Path, patients: int, splits: int) -> None:
    """Two tables (clinical: 6 columns, labs: 12) and a binary label, and ``study.yaml``."""
    rng = np.random.default_rng(0)
    ids = [f"pt{i:03d}" for i in range(patients)]
    z1, z2 = rng.normal(size=(2, patients))
    clinical = rng.normal(size=(patients, 6))
    clinical[:, 0] += z1
    labs = rng.normal(size=(patients, 12))
    labs[:, :2] += z2[:, None]
    for name, values in (("clinical", clinical), ("labs", labs)):
        frame = pd.DataFrame(values, columns=[f"{name}_{j}" for j in range(values.shape[1])])
        frame.insert(0, "patient_id", ids)
        frame.to_csv(root / f"{name}.csv", index=False)
    label = (z1 + z2 + 0.5 * rng.normal(size=patients) > 0).astype(int)
    pd.DataFrame({"patient_id": ids, "label": label}).to_csv(root / "labels.csv", index=False)
    tables = {m: {"type": "tabular", "path": f"{m}.csv"} for m in ("clinical", "labs")}
    config = {
        "output_dir": "out",
        "device": "cpu",
        "splits": {"scheme": "holdout", "repeats": splits},
        "datasets": {
            "study": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "labels.csv", "label": "label"},
                "modalities": tables,
            }
        },
        "models": ["lego_block", "lego_merge", "lego_fuse"],
        "train": {"epochs": 20, "batch_size": 32, "lr": 1.0e-3, "patience": 5},
        "fuse": {"epochs": 2},
    }
    (root / "study.yaml").write_text(yaml.safe_dump(config))


def run_study(root: Path, batched: bool, cores: int) -> dict:
    """Run the whole study in ``root``; its jobs, wall and CPU seconds (the children's)."""
    argv = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--configfile", "study.yaml"]
    argv += ["--cores", str(cores), "--config", f"batch_splits={batched}"]
    # The local profile is quiet about progress; `--quiet host` alone shows the steps done.
    argv += ["--quiet", "host"]
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    done, wall, cpu = run_timed(argv, cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the study failed (batch_splits={batched}):\n{done.stderr[-3000:]}")
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", done.stdout + done.stderr)
    if not steps:
        raise RuntimeError(f"no job count in snakemake's output:\n{done.stderr[-3000:]}")
    return {"jobs": int(steps[-1][1]), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def outputs(root: Path) -> dict[str, bytes]:
    """The compared files of a finished study, by their path inside it; a training log and
    a metrics file without the wall-clock seconds they record."""
    found = {}
    for path in sorted(p for name in COMPARED for p in (root / "out").rglob(name)):
        data = path.read_bytes()
        if path.name == "train_log.csv":
            data = pd.read_csv(path).drop(columns="seconds").to_csv(index=False).encode()
        elif path.name == "metrics.json":
            payload = json.loads(data)
            payload.pop("train_seconds")
            data = json.dumps(payload, sort_keys=True).encode()
        found[str(path.relative_to(root))] = data
    return found


def markdown(report: dict) -> str:
    rows = report["runs"]
    one, batch = rows["batch_splits: false"], rows["batch_splits: true"]
    lines = [
        f"{report['patients']} patients, two tables, lego_block + lego_merge + lego_fuse, "
        f"{report['splits']} splits, from the config to the report with `--cores "
        f"{report['cores']}` (load average {report['load_before']:.1f} before, "
        f"{report['load_after']:.1f} after; `benchmarks/small_study.py`).",
        "",
        "| `batch_splits` | jobs | wall s | CPU s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in rows.items():
        lines.append(
            f"| `{name.split(': ')[1]}` | {row['jobs']} | {row['wall_s']} | {row['cpu_s']} |"
        )
    lines += [
        "",
        f"Batched: {one['jobs'] / batch['jobs']:.1f}× fewer jobs, "
        f"{one['wall_s'] / batch['wall_s']:.2f}× less wall time, "
        f"{one['cpu_s'] / batch['cpu_s']:.2f}× less CPU time. "
        f"{report['identical_files']} prediction, metrics, checkpoint and training-log files compared: "
        + ("byte-identical." if report["identical"] else "**they differ**."),
        *(f"- differs: `{name}`" for name in report["differing_files"]),
    ]
    return "\n".join(lines) + "\n"


def batched_only(args: argparse.Namespace) -> None:
    """The batched study alone: its jobs, wall and CPU seconds, and the splits it ran."""
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="small_study_") as scratch:
        root = Path(scratch)
        write_study(root, args.patients, args.splits)
        run = run_study(root, True, args.cores)
        metrics = len(list((root / "out").rglob("metrics.json")))
    report = {
        "patients": args.patients,
        "splits": args.splits,
        "cores": args.cores,
        "batch_splits": True,
        **run,
        "metrics_files": metrics,
        "load_before": load_before,
        "load_after": load_average(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    text = (
        f"{args.patients} patients, two tables, lego_block + lego_merge + lego_fuse, "
        f"{args.splits} holdout splits, batched, `--cores {args.cores}`, from the config to "
        f"the report: {run['jobs']} jobs, {run['wall_s']} s wall, {run['cpu_s']} CPU-s, "
        f"{metrics} metrics files (load average {load_before:.1f} before, "
        f"{report['load_after']:.1f} after; `benchmarks/small_study.py --batched-only`).\n"
    )
    write_report(args.out, f"small_study_batched_{args.splits}", report, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=150)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--batched-only", action="store_true", help="run only the batched study (no comparison)"
    )
    args = parser.parse_args()
    if args.batched_only:
        batched_only(args)
        return
    load_before = load_average()
    runs, files = {}, {}
    with tempfile.TemporaryDirectory(prefix="small_study_") as scratch:
        for batched in (False, True):
            root = Path(scratch) / f"batch_splits_{batched}"
            root.mkdir()
            write_study(root, args.patients, args.splits)
            runs[f"batch_splits: {str(batched).lower()}"] = run_study(root, batched, args.cores)
            files[batched] = outputs(root)
            shutil.rmtree(root / "out" / ".snakemake", ignore_errors=True)
    report = {
        "patients": args.patients,
        "splits": args.splits,
        "cores": args.cores,
        "runs": runs,
        "identical_files": len(files[True]),
        "identical": files[True] == files[False] and bool(files[True]),
        # Provenance holds the commit (and "-dirty"): the tree must not change during the run.
        "differing_files": sorted(
            name
            for name in files[True].keys() | files[False].keys()
            if files[True].get(name) != files[False].get(name)
        ),
        "load_before": load_before,
        "load_after": load_average(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    write_report(args.out, "small_study", report, markdown(report))
    if not report["identical"]:
        sys.exit("the batched and unbatched runs wrote different files")


if __name__ == "__main__":
    main()
