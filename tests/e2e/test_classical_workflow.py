"""The classical references in a real snakemake run: a tiny generic survival study.

coxnet and gbm run on both modalities of the dataset (a clinical table and a lab series) on
the same splits as the LegoBlocks. The run must put the Classical rows into Table 2 and
compare LegoMerge with the classical run that is best on validation. (That a model of another
task is skipped is the demo plan's test: no coxnet on its binary datasets, no logistic on
its survival one.)
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from mmlego.predictions import read_predictions
from tests.conftest import run_snakemake

pytestmark = pytest.mark.slow

N = 48


def _write_study(root) -> None:
    """Survival with signal in ``age`` and in the labs' mean."""
    rng = np.random.default_rng(7)
    ids = [f"pt{i:02d}" for i in range(N)]
    age = rng.normal(size=N)
    crp = rng.normal(size=N)
    hazard = np.exp(1.2 * age + 0.8 * crp)
    event_time = rng.exponential(10 / hazard)
    censor = rng.uniform(2, 30, N)
    pd.DataFrame(
        {
            "pid": ids,
            "months": np.minimum(event_time, censor).round(3),
            "dead": event_time <= censor,
        }
    ).astype({"dead": int}).to_csv(root / "labels.csv", index=False)
    pd.DataFrame({"pid": ids, "age": age, "site": rng.choice(["a", "b"], N)}).to_csv(
        root / "clinical.csv", index=False
    )
    rows = [
        (pid, day, "crp", crp[i] + 0.3 * rng.normal())
        for i, pid in enumerate(ids)
        for day in rng.uniform(-30, 0, 3)
    ]
    pd.DataFrame(rows, columns=["pid", "day", "test", "value"]).to_csv(
        root / "labs.csv", index=False
    )


def _config() -> dict:
    survival = {
        "kind": "generic",
        "task": "survival",
        "labels": {"path": "labels.csv", "id": "pid", "time": "months", "event": "dead"},
        "modalities": {
            "clinical": {"type": "tabular", "path": "clinical.csv", "id": "pid"},
            "labs": {
                "type": "timeseries",
                "path": "labs.csv",
                "id": "pid",
                "time": "day",
                "variable": "test",
                "value": "value",
                "window": [-30, 0],
                "bins": 2,
            },
        },
    }
    return {
        "output_dir": "out",
        "device": "cpu",
        "splits": {"repeats": 2},
        "datasets": {"surv": survival},
        "models": ["lego_block", "lego_merge", "coxnet", "gbm"],
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "train": {"epochs": 2, "batch_size": 16, "patience": 2, "survival_bins": 2},
        "classical": {
            "coxnet": {"l1_ratio": [0.5], "n_alphas": 5},
            "gbm": {"learning_rate": [0.1], "max_depth": [2], "iterations": [10, 30]},
        },
        "evaluate": {"bootstrap": 20},
    }


def test_classical_rows_and_the_paired_comparison_from_a_real_run(tmp_path):
    _write_study(tmp_path)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(_config()))
    common = ["--configfile", "study.yaml", "--cores", "2"]
    done = run_snakemake(*common, "out/tables/table2.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"

    splits = json.loads((out / "surv" / "splits.json").read_text())["splits"]
    for k in range(2):
        run = out / "surv" / "coxnet" / f"split{k}"
        preds = read_predictions(run / "predictions.parquet")
        for name in ("val", "test"):
            got = preds.frame.loc[preds.subset(name), "patient_id"]
            assert sorted(got) == sorted(splits[k][name])
        # The chosen alpha is the one of the grid with the lowest validation loss.
        selection = json.loads((run / "selection.json").read_text())
        scored = [c for c in selection["curve"] if c["val_loss"] is not None]
        best = min(scored, key=lambda c: c["val_loss"])  # the first of ties, as the job keeps
        assert selection["setting"] == {"l1_ratio": best["l1_ratio"], "alpha": best["alpha"]}
        assert len(selection["curve"]) <= 5 and selection["select_on"] == "loss"
        assert any(f.startswith("labs:crp:") for f in selection["features"])

    table2 = (out / "tables" / "table2.md").read_text()
    section = table2.split("| **Classical** |")[1]
    for row in ("Cox (elastic net)", "Gradient boosting"):
        assert re.search(rf"\| {re.escape(row)} \|.*\d\.\d{{3}}", section), table2

    # LegoMerge against the classical run with the best mean validation c-index.
    val = {
        run: np.mean(
            [
                json.loads((out / "surv" / run / f"split{k}" / "metrics.json").read_text())["val"][
                    "c_index"
                ]
                for k in range(2)
            ]
        )
        for run in ("coxnet", "gbm")
    }
    paired = pd.read_csv(out / "tables" / "paired.csv")
    classical = paired[(paired["dataset"] == "surv") & (paired["versus"] == "classical")]
    assert classical["model"].tolist() == ["lego_merge"]
    assert classical["baseline"].item() == max(val, key=val.get)
    assert "| surv | lego_merge | classical |" in (out / "tables" / "paired.md").read_text()
