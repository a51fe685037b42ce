"""One real snakemake run with ``--keep-going`` over two small datasets: one whose labels
hold a single class (its first job fails with a clear error), one whose test set holds a
single class (warned at the split, the metric is reported undefined, not a crash)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.reliability.study import env, snakemake_cmd, text

pytestmark = pytest.mark.slow
N = 20


def _dataset(labels: str) -> dict:
    return {
        "kind": "generic",
        "task": "binary",
        "labels": {"path": labels, "label": "label"},
        "modalities": {"clinical": {"type": "tabular", "path": "clinical.csv"}},
    }


def test_keep_going_finishes_the_good_dataset_and_single_classes_are_clear(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"p{i:02d}" for i in range(N)]
    pd.DataFrame({"patient_id": ids, "a": rng.normal(size=N), "b": rng.normal(size=N)}).to_csv(
        tmp_path / "clinical.csv", index=False
    )
    pd.DataFrame({"patient_id": ids, "label": 0}).to_csv(tmp_path / "one.csv", index=False)
    rare = [1, 1, 1] + [0] * (N - 3)  # 3 positives: the 3-patient test set gets none
    pd.DataFrame({"patient_id": ids, "label": rare}).to_csv(tmp_path / "rare.csv", index=False)
    config = {
        "output_dir": "out",
        "device": "cpu",
        "splits": {"repeats": 1},
        "models": ["lego_block"],
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "train": {"epochs": 2, "batch_size": 16, "patience": 2},
        "datasets": {"one": _dataset("one.csv"), "rare": _dataset("rare.csv")},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    targets = [f"out/{ds}/lego_block.clinical/split0/metrics.json" for ds in ("one", "rare")]
    result = subprocess.run(
        snakemake_cmd("--cores", "2", "--keep-going", "--retries", "0", *targets),
        cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = tmp_path / "out"
    assert result.returncode != 0  # the run as a whole failed ...
    failed = "read-tables failed: label file one.csv: a binary task needs exactly 2 label values"
    assert failed in result.stdout + result.stderr
    error = text(out / "logs/one/tables.log")
    assert failed in error
    assert not (out / "one").exists() or not any((out / "one").rglob("*.parquet"))

    # ... and every job of the other dataset ran to the end.
    metrics = json.loads((out / "rare/lego_block.clinical/split0/metrics.json").read_text())
    assert metrics["test"] == {"auc": None, "average_precision": None}
    assert metrics["val"]["auc"] is not None
    assert "the test set has a single class; its metric will be undefined" in text(
        out / "logs/rare/splits.log"
    )
    assert "auc is undefined: only class [0] is present" in text(
        out / "logs/metrics/rare/lego_block.clinical/split0.log"
    )
