"""Real snakemake runs of the evaluation rules on hand-made predictions (per the contract).

``--allowed-rules`` keeps the upstream stages out: the fixture files stand in for their outputs.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.conftest import demo_study, run_snakemake
from tests.evaluate_fixtures import classification_study

RUNS = {"lego_block.static": 1.0, "lego_block.vitals": 0.8, "lego_merge": 1.6, "snn.static": 0.9}


def _study(tmp_path):
    config = demo_study(tmp_path / "out")
    config["datasets"] = {"icd9": config["datasets"]["icd9"]}
    config["models"] = ["lego_block", "lego_merge", "snn"]
    config["splits"]["repeats"] = 2
    config["evaluate"]["bootstrap"] = 50
    config["evaluate"]["unpaired"]["enabled"] = False
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    classification_study(tmp_path / "out" / "icd9", n_classes=2, n=80, runs=RUNS, repeats=2)
    # The merge jobs' missing-modality reports (the merge without each modality).
    for k in range(2):
        report = {"dataset": "icd9", "split": k, "set": "test", "metric": "auc", "merge": 0.8,
                  "without": {"static": 0.7 + k / 10, "vitals": 0.6}, "blocks": {}}  # fmt: skip
        merge_dir = tmp_path / "out" / "icd9" / "lego_merge" / f"split{k}"
        (merge_dir / "missing_modality.json").write_text(json.dumps(report))
    # The trained runs' logs, which the train jobs write beside their predictions.
    log = pd.DataFrame({"epoch": [1, 2], "val_metric": [0.6, 0.7], "seconds": [0.5, 0.5]})
    for run in RUNS:
        if run != "lego_merge":
            for k in range(2):
                log.to_csv(
                    tmp_path / "out" / "icd9" / run / f"split{k}" / "train_log.csv", index=False
                )
    return path


def test_metrics_and_tables_rules_on_saved_predictions(tmp_path):
    config = _study(tmp_path)
    out = tmp_path / "out"
    result = run_snakemake(
        str(out / "tables" / "table2.html"),
        str(out / "figures" / "fig3_blocks_vs_merge.png"),
        "--cores",
        "2",
        "--configfile",
        str(config),
        "--allowed-rules",
        "metrics",
        "tables",
        "result_figures",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads((out / "icd9" / "lego_merge" / "split1" / "metrics.json").read_text())
    assert doc["split"] == 1 and doc["task"] == "binary" and doc["test"]["auc"] > 0.6
    long = pd.read_csv(out / "tables" / "metrics_long.csv")
    assert sorted(long["run"].unique()) == sorted(RUNS) and set(long["split"]) == {0, 1}
    table = pd.read_csv(out / "tables" / "table2.csv")
    merge = table[table["row"] == "LegoMerge"].iloc[0]
    values = long[
        (long["run"] == "lego_merge") & (long["set"] == "test") & (long["metric"] == "auc")
    ]
    assert abs(merge["mean"] - values["value"].mean()) < 1e-9
    assert "LegoMerge" in (out / "tables" / "table2.md").read_text()
    missing = pd.read_csv(out / "tables" / "missing_modality.csv").set_index("row")
    assert missing.at["LegoMerge without static", "mean"] == pytest.approx(0.75)
    assert (out / "figures" / "km_risk_groups.pdf").exists()
    log = (out / "logs" / "metrics" / "icd9" / "lego_merge" / "split1.log").read_text()
    assert "lego_merge split 1" in log
    report = out / "report.html"
    result = run_snakemake(
        str(out / "tables" / "table2.html"),
        str(out / "figures" / "fig3_blocks_vs_merge.png"),
        "--configfile",
        str(config),
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert report.stat().st_size > 100_000  # self-contained: figures embedded
