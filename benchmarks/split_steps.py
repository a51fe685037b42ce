"""Cost of the splits and transforms steps for many splits (20 holdout repeats, 5-fold cv × 20).

Copies a finished dataset's ``labels.parquet`` and vector/series stores (e.g. the demo's
``icd9``) to a scratch folder, then for each scheme times, in fresh processes as the workflow
runs them:

- ``mmlego splits`` (one job per dataset);
- ``mmlego transforms`` once per split (one job per split) against one ``mmlego transforms``
  process given every split (one job per dataset), side by side in the same run.

It checks that both ways write the same transforms (provenance aside) and reports wall and
CPU seconds and their ratios. Results go to ``results/benchmarks/split_steps.{json,md}``.

    .venv/bin/python benchmarks/split_steps.py --dataset-dir results/demo/icd9
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from child_time import run_timed

from mmlego.config import fill_defaults
from mmlego.data.store import read_modality
from mmlego.utils.provenance import provenance

REPO = Path(__file__).resolve().parents[1]
MMLEGO = str(Path(sys.executable).with_name("mmlego"))
SCHEMES = {
    "holdout × 20": {"scheme": "holdout", "repeats": 20},
    "5-fold cv × 20": {"scheme": "cv", "folds": 5, "repeats": 20},
}


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process (CPU: user + system of the child)."""
    timed_run = run_timed(argv, check=True, capture_output=True)
    return timed_run.wall_s, timed_run.cpu_s


def copy_dataset(source: Path, root: Path) -> dict[str, str]:
    """Labels and the vector/series stores (the ones transforms fit) into ``root``."""
    (root / "modalities").mkdir(parents=True)
    shutil.copy(source / "labels.parquet", root / "labels.parquet")
    kinds = {}
    for store in sorted((source / "modalities").glob("*.h5")):
        kind = read_modality(store).kind
        if kind != "bag":
            shutil.copy(store, root / "modalities" / store.name)
            kinds[store.stem] = kind
    return kinds


def fitted(path: Path) -> dict:
    doc = json.loads(path.read_text())
    doc.pop("provenance")
    return doc


def measure_scheme(root: Path, dataset: str, kinds: dict[str, str], cfg: dict) -> dict:
    log = str(root / "bench.log")
    splits_wall, splits_cpu = timed(
        [MMLEGO, "--log", log, "splits", "--dataset", dataset, "--labels",
         str(root / "labels.parquet"), "--cfg", json.dumps(cfg), "--seed", "0",
         "--out", str(root / "splits.json")]
    )  # fmt: skip
    n = len(json.loads((root / "splits.json").read_text())["splits"])
    stores = [
        f"--store={m}={root / 'modalities' / f'{m}.h5'}" for m, k in kinds.items() if k != "bag"
    ]
    # The section as the workflow passes it: with the schema's defaults filled in.
    any_dataset = {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}
    splits = fill_defaults({"splits": dict(cfg), "datasets": any_dataset})["splits"]
    fit_cfg = {"splits": splits, "modalities": kinds, "survival_bins": 4}
    base = [MMLEGO, "--log", log, "transforms", "--dataset", dataset,
            "--labels", str(root / "labels.parquet"), "--splits", str(root / "splits.json"),
            *stores, "--cfg", json.dumps(fit_cfg)]  # fmt: skip
    single = [root / "single" / f"split{k}.json" for k in range(n)]
    per_split = [timed([*base, "--split", str(k), "--out", str(single[k])]) for k in range(n)]
    batched = [root / "batched" / f"split{k}.json" for k in range(n)]
    one_wall, one_cpu = timed([*base, "--split", *map(str, range(n)), "--out", *map(str, batched)])
    if any(fitted(a) != fitted(b) for a, b in zip(single, batched, strict=True)):
        raise RuntimeError("the batched transforms differ from the per-split ones")
    many_wall = sum(w for w, _ in per_split)
    many_cpu = sum(c for _, c in per_split)
    return {
        "splits": n,
        "splits_job": {"wall_s": round(splits_wall, 2), "cpu_s": round(splits_cpu, 2)},
        "transforms_per_split_jobs": {
            "jobs": n,
            "wall_s": round(many_wall, 2),
            "cpu_s": round(many_cpu, 2),
            "wall_s_per_job": round(many_wall / n, 3),
        },
        "transforms_one_job": {"jobs": 1, "wall_s": round(one_wall, 2), "cpu_s": round(one_cpu, 2)},
        "wall_ratio": round(many_wall / one_wall, 1),
        "cpu_ratio": round(many_cpu / one_cpu, 1),
    }


def report(payload: dict, out: Path) -> str:
    lines = [
        "# Splits and transforms steps for many splits",
        "",
        f"Dataset `{payload['dataset']}` ({payload['patients']} patients; transforms fitted for "
        f"{', '.join(f'{m} ({k})' for m, k in payload['modalities'].items())}). Fresh processes "
        f"as the workflow runs them, on {payload['machine']['cpus']} CPU cores; load average "
        f"{payload['load_average_1min'][0]:.1f} before, {payload['load_average_1min'][1]:.1f} "
        "after (wall times stretch with the load; CPU seconds much less).",
        "",
        "| scheme | splits | splits job wall / CPU (s) | transforms, one job per split: "
        "wall / CPU (s) | transforms, one job: wall / CPU (s) | ratio wall / CPU |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in payload["results"].items():
        many, one = r["transforms_per_split_jobs"], r["transforms_one_job"]
        lines.append(
            f"| {name} | {r['splits']} | {r['splits_job']['wall_s']} / {r['splits_job']['cpu_s']} "
            f"| {many['wall_s']} / {many['cpu_s']} ({many['wall_s_per_job']} per job) "
            f"| {one['wall_s']} / {one['cpu_s']} | {r['wall_ratio']} / {r['cpu_ratio']} |"
        )
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "split_steps.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    (out / "split_steps.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-dir", type=Path, required=True, help="a finished dataset folder")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks")
    args = parser.parse_args()
    dataset = args.dataset_dir.name
    load_before = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, cfg in SCHEMES.items():
            root = Path(scratch) / name.replace(" ", "_").replace("×", "x")
            kinds = copy_dataset(args.dataset_dir, root)
            results[name] = measure_scheme(root, dataset, kinds, cfg)
        patients = len(read_modality(next((root / "modalities").glob("*.h5"))).ids)
    payload = {
        "benchmark": "split_steps",
        "dataset": dataset,
        "patients": patients,
        "modalities": kinds,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "results": results,
        "provenance": provenance({"dataset_dir": str(args.dataset_dir), "schemes": SCHEMES}),
    }
    print(report(payload, args.out))


if __name__ == "__main__":
    main()
