"""Baselines in a real snakemake run: a tiny generic study, trained baselines and the ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mmlego.predictions import read_predictions
from tests.conftest import REPO, run_snakemake

# The generic tables, splits and train stages come from other stage files.
NEEDED = ("preprocess.smk", "splits.smk", "train.smk")
pytestmark = pytest.mark.skipif(
    not all((REPO / "workflow" / "rules" / f).exists() for f in NEEDED),
    reason=f"needs the stage files {NEEDED}",
)

N = 40


def _study(root):
    """Binary label from a factor planted in the clinical table and in the labs series."""
    rng = np.random.default_rng(5)
    ids = [f"pt{i:02d}" for i in range(N)]
    z = rng.normal(size=N)
    pd.DataFrame({"pid": ids, "y": (z > 0).astype(int)}).to_csv(root / "labels.csv", index=False)
    pd.DataFrame(
        {"pid": ids, "score": 2 * z + rng.normal(size=N), "age": rng.normal(60, 10, N)}
    ).to_csv(root / "clinical.csv", index=False)
    rows = [
        (pid, day, test, (2 * z[i] if test == "crp" else 0) + rng.normal())
        for i, pid in enumerate(ids[1:], start=1)  # pt00 has no labs
        for day in range(0, 4)
        for test in ("crp", "hb")
    ]
    pd.DataFrame(rows, columns=["pid", "day", "test", "value"]).to_csv(
        root / "labs.csv", index=False
    )


def test_baselines_train_per_split_and_the_ensemble_averages_them(tmp_path):
    _study(tmp_path)
    out = tmp_path / "out"
    config = {
        "output_dir": str(out),
        "splits": {"repeats": 2},
        "models": ["snn", "abmil", "late_bilinear", "mcat", "ensemble"],
        "train": {"epochs": 3, "batch_size": 8, "lr": 1.0e-2, "patience": 3},
        "baselines": {"dim": 8, "heads": 2, "late": {"bilinear_dim": 4}},
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": str(tmp_path / "labels.csv"), "id": "pid", "label": "y"},
                "modalities": {
                    "clinical": {"type": "tabular", "path": str(tmp_path / "clinical.csv"), "id": "pid"},
                    "labs": {
                        "type": "timeseries", "path": str(tmp_path / "labs.csv"), "id": "pid",
                        "time": "day", "variable": "test", "value": "value",
                        "window": [0, 4], "bins": 4,
                    },
                },
            }
        },
    }  # fmt: skip
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    ds = out / "mine"
    target = str(ds / "ensemble" / "split1" / "predictions.parquet")
    others = [str(ds / run / "split0" / "predictions.parquet") for run in ("late_bilinear", "mcat")]
    result = run_snakemake(target, *others, "--cores", "2", "--configfile", str(path))
    assert result.returncode == 0, result.stdout + result.stderr

    # one training job per (run, split), each with its own outputs
    for run in ("snn.clinical", "abmil.labs"):
        assert (ds / run / "split1" / "model.pt").exists()
        assert (ds / run / "split1" / "train_log.csv").exists()
    assert not (ds / "ensemble" / "split1" / "model.pt").exists()

    ensemble = read_predictions(target)
    members = [read_predictions(ds / run / "split1" / "predictions.parquet")
               for run in ("snn.clinical", "abmil.labs")]  # fmt: skip
    assert ensemble.meta["members"] == ["snn.clinical", "abmil.labs"]
    key = ["patient_id", "set"]
    merged = members[0].frame.merge(members[1].frame, on=key, suffixes=("_a", "_b"))
    merged = merged.merge(ensemble.frame, on=key)
    # pt00 has no labs in the window, so its ensemble is the clinical member alone.
    has_labs = merged["patient_id"] != "pt00"
    for k in (0, 1):
        expected = np.where(
            has_labs, (merged[f"prob_{k}_a"] + merged[f"prob_{k}_b"]) / 2, merged[f"prob_{k}_a"]
        )
        np.testing.assert_allclose(merged[f"prob_{k}"], expected)
    for path in others:
        preds = read_predictions(path)
        assert preds.frame["prob_1"].std() > 0, f"{path}: constant predictions"
