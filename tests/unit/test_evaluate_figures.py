"""Result figures from saved files: Fig. 2, Fig. 3, training curves, Kaplan–Meier risk groups."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmlego.cli import main
from mmlego.evaluate.result_figures import km_run, risk_groups
from mmlego.predictions import read_predictions
from tests.evaluate_fixtures import classification_study, store_args, survival_study

SURV_RUNS = {"lego_block.slides": 1.0, "lego_block.omics": 2.0, "lego_merge": 3.0, "ensemble": 1.5}
CLS_RUNS = {"ensemble": 1.0, "lego_merge": 1.5, "lego_fuse": 2.0, "lego_block.static": 0.8}


def _score_all(root, runs, repeats):
    """Score every run and split; write a training log for the trained ones.

    Returns the metrics files and the (dataset, run, train_log.csv) triples."""
    files, logs = [], []
    for run in runs:
        for k in range(repeats):
            out = root / run / f"split{k}" / "metrics.json"
            argv = [
                "metrics",
                "--predictions",
                str(out.with_name("predictions.parquet")),
                "--labels",
                str(root / "labels.parquet"),
                "--splits",
                str(root / "splits.json"),
                *store_args(root),
                "--split",
                str(k),
                "--out",
                str(out),
            ]
            assert main(argv) == 0
            files.append(str(out))
            if run != "lego_merge":
                epochs = np.arange(1, 6)
                pd.DataFrame(
                    {
                        "epoch": epochs,
                        "train_loss": 1 / epochs,
                        "val_loss": 1 / epochs,
                        "val_metric": 0.5 + 0.05 * epochs,
                        "lr": 1e-3,
                        "seconds": 0.1,
                    }
                ).to_csv(out.with_name("train_log.csv"), index=False)
                logs.append((root.name, run, str(out.with_name("train_log.csv"))))
    return files, logs


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    survival_study(root / "tcga", n=80, runs=SURV_RUNS, repeats=2)
    classification_study(root / "icd9", n=80, runs=CLS_RUNS, repeats=2)
    tcga, tcga_logs = _score_all(root / "tcga", SURV_RUNS, 2)
    icd9, icd9_logs = _score_all(root / "icd9", CLS_RUNS, 2)
    files = tcga + icd9
    preds = [f.replace("metrics.json", "predictions.parquet") for f in files]
    config = {
        "evaluate": {"bootstrap": 10},
        "datasets": {
            "tcga": {
                "kind": "tcga",
                "task": "survival",
                "slides": "x",
                "table": "y",
                "omics_as": "joint",
            },
            "icd9": {"kind": "mimic", "task": "binary", "mimic_dir": "x", "target": "icd9"},
        },
    }
    argv = [
        "tables",
        "--metrics",
        *files,
        "--predictions",
        *preds,
        "--labels",
        f"tcga={root / 'tcga' / 'labels.parquet'}",
        "--labels",
        f"icd9={root / 'icd9' / 'labels.parquet'}",
        *store_args(root / "tcga", "tcga"),
        *store_args(root / "icd9", "icd9"),
        "--cfg",
        json.dumps(config),
        "--seed",
        "0",
        "--out-dir",
        str(root / "tables"),
    ]
    assert main(argv) == 0
    return root, config, preds, tcga_logs + icd9_logs


def test_figures_cli_draws_every_figure(study):
    root, config, preds, logs = study
    figs = root / "figures"
    argv = [
        "result-figures",
        "--metrics-long",
        str(root / "tables" / "metrics_long.csv"),
        "--predictions",
        *preds,
        *(arg for triple in logs for arg in ("--train-log", *triple)),
        "--cfg",
        json.dumps(config),
        "--out-fig2",
        str(figs / "fig2.png"),
        "--out-fig3",
        str(figs / "fig3.png"),
        "--out-curves",
        str(figs / "curves.png"),
        "--out-km",
        str(figs / "km.png"),
    ]
    assert main(argv) == 0
    for name in ("fig2", "fig3", "curves", "km"):
        assert (figs / f"{name}.png").stat().st_size > 5000
        assert (figs / f"{name}.pdf").exists()


def test_risk_groups_split_test_patients_at_the_validation_median(study):
    _, _, preds, _ = study
    files = [p for p in preds if "/tcga/lego_merge/" in p]
    groups = risk_groups([read_predictions(p) for p in files])
    assert set(groups["split"]) == {0, 1}
    frame = pd.read_parquet(files[0])
    cut = frame.loc[frame["set"] == "val", "risk"].median()
    test = groups[groups["split"] == 0]
    assert ((test["risk"] > cut) == (test["group"] == "high risk")).all()
    # a model with signal: the high-risk group has the higher event rate per unit time
    high, low = groups[groups["group"] == "high risk"], groups[groups["group"] == "low risk"]
    assert high["event"].sum() / high["time"].sum() > low["event"].sum() / low["time"].sum()


def test_km_prefers_lego_merge():
    assert km_run(["ensemble", "lego_fuse", "lego_merge"]) == "lego_merge"
    assert km_run(["snn.omics"]) == "snn.omics" and km_run([]) is None


def test_fig2_compares_merge_and_fuse_with_the_ensemble_of_their_blocks():
    from mmlego.evaluate.result_figures import fig2_merge_vs_ensemble

    long = pd.DataFrame(
        [
            {"dataset": "icd9", "run": run, "set": "test", "metric": "auc", "value": v}
            for run in ("ensemble", "lego_ensemble", "lego_merge", "lego_fuse", "snn.static")
            for v in (0.7, 0.8)
        ]
    )
    fig = fig2_merge_vs_ensemble(long, {"icd9": "binary"}, {"icd9": "mimic"})
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["LegoBlock ensemble", "LegoMerge", "LegoFuse"]
