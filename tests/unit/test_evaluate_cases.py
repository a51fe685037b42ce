"""Whom a run is scored on: complete cases for Table 2, every patient with its modalities for
the missing-modality table; a unimodal run never on a patient without its modality."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmlego.cli import main
from mmlego.data.labels import write_labels
from mmlego.predictions import read_predictions
from mmlego.utils.provenance import provenance
from tests.evaluate_fixtures import store_args, write_predictions, write_stores

TRAIN, VAL = ["r1", "r2", "r3", "r4"], ["v1", "v2", "v3", "v4"]
# Test patients t1..t6 (labels 1 0 1 0 1 0): t4 and t6 lack `static`, t5 and t6 lack
# `vitals`, so the complete cases are t1, t2, t3.
TEST = ["t1", "t2", "t3", "t4", "t5", "t6"]
MISSING = {"static": ["t4", "t6"], "vitals": ["t5", "t6"]}
# Positive-class probabilities on test. snn.static's 0.65 for t4 and t6 is its prior: it has
# no input for them.
PROB = {
    "lego_merge": [0.9, 0.4, 0.3, 0.8, 0.6, 0.7],
    "snn.static": [0.7, 0.55, 0.6, 0.65, 0.15, 0.65],
}


def _binary_study(root: Path) -> None:
    ids = TRAIN + VAL + TEST
    label = [1, 0] * (len(ids) // 2)
    labels = pd.DataFrame({"patient_id": ids, "label": label})
    write_labels(root / "labels.parquet", labels, "binary", provenance=provenance(None),
                 classes=["no", "yes"])  # fmt: skip
    splits = {"dataset": root.name, "splits": [{"train": TRAIN, "val": VAL, "test": TEST}]}
    (root / "splits.json").write_text(json.dumps(splits))
    write_stores(root, ids, PROB, MISSING)
    for run, test_probs in PROB.items():
        probs = [0.8, 0.3, 0.6, 0.4, *test_probs]
        frame = pd.DataFrame(
            {
                "patient_id": VAL + TEST,
                "set": ["val"] * 4 + ["test"] * 6,
                "split": 0,
                "label": label[4:],
                "prob_0": 1 - np.array(probs),
                "prob_1": probs,
            }
        )
        write_predictions(root / run / "split0" / "predictions.parquet", frame, task="binary",
                          classes=["no", "yes"], run=run, dataset=root.name)  # fmt: skip


def _score(root: Path, run: str, stores: list[str] | None = None) -> int:
    out = root / run / "split0" / "metrics.json"
    argv = ["metrics", "--predictions", str(out.with_name("predictions.parquet")),
            "--labels", str(root / "labels.parquet"), "--splits", str(root / "splits.json"),
            "--split", "0", *(store_args(root) if stores is None else stores), "--out", str(out)]  # fmt: skip
    return main(argv)


def test_complete_cases_and_available_patients_give_the_hand_computed_auc(tmp_path):
    _binary_study(tmp_path)
    for run in PROB:
        assert _score(tmp_path, run) == 0
    merge = json.loads((tmp_path / "lego_merge" / "split0" / "metrics.json").read_text())
    block = json.loads((tmp_path / "snn.static" / "split0" / "metrics.json").read_text())
    # Complete cases t1 (0.9, +), t2 (0.4, -), t3 (0.3, +): 1 of 2 pairs ordered.
    assert merge["test"]["auc"] == pytest.approx(1 / 2) and merge["n"]["test"] == 3
    # The merge on every test patient: positives 0.9, 0.3, 0.6 over negatives 0.4, 0.8, 0.7.
    assert merge["available"]["test"]["auc"] == pytest.approx(4 / 9)
    assert merge["available"]["n"]["test"] == 6 and merge["patients"]["test"] == 6
    # snn.static on complete cases: 0.7 and 0.6 over 0.55.
    assert block["test"]["auc"] == pytest.approx(1.0) and block["n"]["test"] == 3
    # ...on the patients with `static` (t1, t2, t3, t5): 0.7, 0.6, 0.15 over 0.55. Scoring its
    # priors for t4 and t6 too would give 4/9.
    assert block["available"]["test"]["auc"] == pytest.approx(2 / 3)
    assert block["available"]["n"]["test"] == 4
    assert block["val"]["auc"] == pytest.approx(1.0) and block["n"]["val"] == 4


def test_survival_c_index_on_complete_cases_by_hand(tmp_path):
    ids = ["r1", "r2", "r3", "v1", "v2", "s1", "s2", "s3", "s4"]
    time = [1.0, 2.0, 3.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0]
    event = [1, 1, 0, 1, 0, 1, 1, 0, 0]
    labels = pd.DataFrame({"patient_id": ids, "time": time, "event": event})
    write_labels(tmp_path / "labels.parquet", labels, "survival", provenance=provenance(None))
    sets = {"train": ids[:3], "val": ids[3:5], "test": ids[5:]}
    (tmp_path / "splits.json").write_text(json.dumps({"splits": [sets]}))
    write_stores(tmp_path, ids, ["lego_merge"], {"static": ["s4"]})
    risk = [0.2, 0.1, 0.5, 0.9, 0.1, 0.7]
    frame = pd.DataFrame(
        {"patient_id": ids[3:], "set": ["val"] * 2 + ["test"] * 4, "split": 0, "time": time[3:],
         "event": event[3:], "risk": risk, "surv_0": 0.9, "surv_1": 0.4}
    )  # fmt: skip
    write_predictions(tmp_path / "lego_merge" / "split0" / "predictions.parquet", frame,
                      task="survival", bins=[0.0, 2.0, float("inf")], classes=None,
                      run="lego_merge", dataset="tcga")  # fmt: skip
    assert _score(tmp_path, "lego_merge") == 0
    doc = json.loads((tmp_path / "lego_merge" / "split0" / "metrics.json").read_text())
    # All of s1..s4: pairs (s1,s2) (s1,s3) (s1,s4) (s2,s3) (s2,s4); concordant: 3 of 5.
    assert doc["available"]["test"]["c_index"] == pytest.approx(3 / 5)
    # Without s4 (no `static`): (s1,s2) discordant, (s1,s3) and (s2,s3) concordant.
    assert doc["test"]["c_index"] == pytest.approx(2 / 3)
    assert doc["n"]["test"] == 3 and doc["events"]["test"] == 2


def test_a_unimodal_run_is_never_scored_without_its_modality(tmp_path, capsys):
    from mmlego.evaluate.cases import scored_mask

    _binary_study(tmp_path)
    ids = TRAIN + VAL + TEST
    presence = {m: {i: i not in MISSING[m] for i in ids} for m in MISSING}
    for scope in ("complete", "available"):
        keep = scored_mask(TEST, presence, "snn.static", scope)
        assert not keep[[TEST.index(i) for i in MISSING["static"]]].any(), scope
    # Without the store of its modality the run cannot be scored: one message, no file.
    vitals = [a for a in store_args(tmp_path) if "vitals" in a]
    assert _score(tmp_path, "snn.static", ["--store", vitals[-1]]) == 1
    assert not (tmp_path / "snn.static" / "split0" / "metrics.json").exists()
    message = capsys.readouterr().err
    assert re.search(r"run 'snn.static' takes modality 'static', but no store of it", message)


def test_table2_states_the_complete_case_n_and_missing_modality_scores_every_patient(tmp_path):
    from mmlego.evaluate.cases import read_dataset_presence
    from mmlego.evaluate.compare import complete_test

    root = tmp_path / "icd9"
    root.mkdir()
    _binary_study(root)
    for run in PROB:
        assert _score(root, run) == 0
    report = {"dataset": "icd9", "split": 0, "set": "test", "metric": "auc", "merge": 4 / 9,
              "without": {"static": 0.25, "vitals": 0.75}, "blocks": {}}  # fmt: skip
    (root / "lego_merge" / "split0" / "missing_modality.json").write_text(json.dumps(report))
    config = {
        "splits": {"repeats": 1},
        "evaluate": {"bootstrap": 10},
        "datasets": {"icd9": {"kind": "mimic", "task": "binary", "mimic_dir": "x",
                              "target": "icd9"}},
    }  # fmt: skip
    metrics = [str(root / run / "split0" / "metrics.json") for run in PROB]
    argv = ["tables", "--metrics", *metrics, "--predictions",
            *(str(Path(m).with_name("predictions.parquet")) for m in metrics),
            "--labels", f"icd9={root / 'labels.parquet'}", *store_args(root, "icd9"),
            "--missing-modality", str(root / "lego_merge" / "split0" / "missing_modality.json"),
            "--cfg", json.dumps(config), "--seed", "0", "--out-dir", str(tmp_path / "tables")]  # fmt: skip
    assert main(argv) == 0
    tables = tmp_path / "tables"
    md = (tables / "table2.md").read_text()
    assert "| *n* | 14 |" in md and "| *test n (complete cases)* | 3 |" in md
    assert "scored on the test patients who have every modality of the dataset" in md
    table2 = pd.read_csv(tables / "table2.csv").set_index("row")["mean"]
    assert table2["LegoMerge"] == pytest.approx(1 / 2) and table2["SNN (tab)"] == pytest.approx(1)
    missing = pd.read_csv(tables / "missing_modality.csv", keep_default_na=False)
    rows = missing.set_index("row")
    assert list(rows.index) == [
        "SNN (static)", "LegoMerge", "LegoMerge without static", "LegoMerge without vitals",
    ]  # fmt: skip
    assert rows.at["SNN (static)", "scored_on"] == "with static"
    assert float(rows.at["SNN (static)", "mean"]) == pytest.approx(2 / 3)
    assert str(rows.at["SNN (static)", "n_test"]) == "4"
    assert float(rows.at["SNN (static)", "complete_mean"]) == pytest.approx(1.0)
    assert float(rows.at["LegoMerge", "mean"]) == pytest.approx(4 / 9)
    assert str(rows.at["LegoMerge", "n_test"]) == "6"
    assert float(rows.at["LegoMerge without static", "mean"]) == pytest.approx(0.25)
    assert (
        "| icd9 (AUC) | LegoMerge without vitals | every test patient | 6 | 0.750 | – |"
        in (tables / "missing_modality.md").read_text()
    )
    # The paired comparison resamples the same complete cases: LegoMerge − SNN = 1/2 − 1.
    paired = pd.read_csv(tables / "paired.csv").iloc[0]
    assert paired["baseline"] == "snn.static"
    assert paired["mean_difference"] == pytest.approx(-1 / 2)
    presence = read_dataset_presence({m: root / "modalities" / f"{m}.h5" for m in MISSING})
    merge = read_predictions(root / "lego_merge" / "split0" / "predictions.parquet")
    assert complete_test(merge, presence).frame["patient_id"].tolist() == ["t1", "t2", "t3"]
