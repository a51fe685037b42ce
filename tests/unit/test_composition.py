"""The composition table from planted predictions: means, λ and paired differences against
values computed here with scikit-learn, on the complete cases; its Markdown and figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mmlego.cli import main
from mmlego.evaluate.composition import composition_runs, weights_text
from tests.evaluate_fixtures import classification_study, store_args
from tests.markdown_tables import table_count, table_problems

REPEATS = 3
# Run → signal; naive_mc, lego_fuse and lego_ensemble are not in this study.
RUNS = {
    "lego_merge": 1.0,
    "lego_merge_adaptive": 2.5,
    "damc": 0.2,
    "lego_block.static": 0.6,
    "lego_block.vitals": 1.2,
    "snn.static": 3.0,  # not a composition: no row
}
# The λ planted per split; split 1 of the adaptive merge kept equal weights.
LAMBDA = {
    "lego_merge_adaptive": [{"static": 0.3, "vitals": 0.7}, {"static": 0.5, "vitals": 0.5},
                            {"static": 0.0, "vitals": 1.0}],
    "damc": [{"static": 0.6, "vitals": 0.4}, {"static": 0.8, "vitals": 0.2},
             {"static": 0.5, "vitals": 0.5}],
}  # fmt: skip
MISSING = [f"p{i:03d}" for i in range(0, 90, 7)]  # no vitals: not complete cases


def _study(tmp_path):
    root = tmp_path / "icd9"
    classification_study(root, n=90, runs=RUNS, repeats=REPEATS, missing={"vitals": MISSING})
    metrics, predictions, weights = [], [], []
    for run in RUNS:
        for k in range(REPEATS):
            folder = root / run / f"split{k}"
            argv = ["metrics", "--predictions", str(folder / "predictions.parquet"),
                    "--labels", str(root / "labels.parquet"), "--splits",
                    str(root / "splits.json"), *store_args(root), "--split", str(k),
                    "--out", str(folder / "metrics.json")]  # fmt: skip
            assert main(argv) == 0
            metrics.append(folder / "metrics.json")
            predictions.append(folder / "predictions.parquet")
            if run in LAMBDA:
                doc = {"set": "val", "lambda": LAMBDA[run][k], "curve": []}
                (folder / "lambda.json").write_text(json.dumps(doc))
                weights.append(folder / "lambda.json")
    return root, metrics, predictions, weights


def _run(tmp_path, metrics, predictions, weights, root, n_boot=50):
    out = tmp_path / "out"
    argv = ["composition", "--metrics", *map(str, metrics), "--predictions",
            *map(str, predictions), "--weights", *map(str, weights),
            *store_args(root, "icd9"), "--bootstrap", str(n_boot), "--seed", "7",
            "--out-csv", str(out / "composition.csv"), "--out-md", str(out / "composition.md"),
            "--out-png", str(out / "composition.png"),
            "--out-pdf", str(out / "composition.pdf")]  # fmt: skip
    return main(argv), out


def _auc_by_hand(root, run, k, set_name):
    """AUC of one run and split on the set's complete cases, straight from the parquet."""
    frame = pd.read_parquet(root / run / f"split{k}" / "predictions.parquet")
    frame = frame[(frame["set"] == set_name) & ~frame["patient_id"].isin(MISSING)]
    return roc_auc_score(frame["label"], frame["prob_1"])


def test_the_table_matches_hand_computed_means_lambda_and_paired_differences(tmp_path):
    root, metrics, predictions, weights = _study(tmp_path)
    code, out = _run(tmp_path, metrics, predictions, weights, root)
    assert code == 0
    table = pd.read_csv(out / "composition.csv", keep_default_na=False, na_values=[""])
    val = {r: np.mean([_auc_by_hand(root, r, k, "val") for k in range(REPEATS)]) for r in RUNS}
    best = max(("lego_block.static", "lego_block.vitals"), key=val.get)
    assert list(table["model"]) == ["lego_merge", "lego_merge_adaptive", "damc", "best_block"]
    assert list(table["run"]) == ["lego_merge", "lego_merge_adaptive", "damc", best]
    assert table.loc[3, "selected_from"] == "lego_block.static, lego_block.vitals"
    test = {r: np.array([_auc_by_hand(root, r, k, "test") for k in range(REPEATS)]) for r in RUNS}
    for r in table.itertuples():
        assert r.mean == pytest.approx(test[r.run].mean(), abs=1e-6)
        assert r.std == pytest.approx(test[r.run].std(ddof=1), abs=1e-6)
        assert r.n_splits == REPEATS and r.metric == "auc"
        if r.model == "lego_merge":
            assert np.isnan(r.mean_difference) and np.isnan(r.ci_low)
            continue
        diff = test[r.run] - test["lego_merge"]
        assert r.mean_difference == pytest.approx(diff.mean(), abs=1e-6)
        assert r.splits_won == (diff > 0).sum()
        assert r.ci_low <= r.mean_difference <= r.ci_high
    strong, weak = table.set_index("model").loc[["lego_merge_adaptive", "damc"]].itertuples()
    assert strong.ci_low > 0 > weak.ci_high  # signal 2.5 and 0.2 against LegoMerge's 1.0
    # λ per split, as planted; how many splits kept equal weights.
    by_model = table.set_index("model")
    for model, planted in LAMBDA.items():
        assert json.loads(by_model.at[model, "lambda"]) == {
            str(k): w for k, w in enumerate(planted)
        }
    assert by_model.at["lego_merge_adaptive", "equal_weight_splits"] == 1
    assert by_model.at["damc", "equal_weight_splits"] == 1
    assert pd.isna(by_model.at["best_block", "lambda"])
    # The complete-case test n of the header: the test patients with vitals.
    splits = json.loads((root / "splits.json").read_text())["splits"]
    n_test = sorted({len(set(s["test"]) - set(MISSING)) for s in splits})
    expected = str(n_test[0]) if len(n_test) == 1 else f"{n_test[0]}–{n_test[-1]}"
    assert str(by_model.at["lego_merge", "n_test"]) == expected
    # The Markdown: valid pipe tables (models, then λ per split), the λ as planted.
    md = (out / "composition.md").read_text()
    assert table_problems(md) == [] and table_count(md) == 2
    assert "| LegoMerge (adaptive) | static 0.3 · vitals 0.7 | equal | static 0 · vitals 1 |" in md
    assert f"best LegoBlock ({best})" in md and "snn" not in md
    assert (out / "composition.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Seeded: the same inputs give the same table.
    code, again = _run(tmp_path / "again", metrics, predictions, weights, root)
    assert code == 0
    assert (again / "composition.csv").read_bytes() == (out / "composition.csv").read_bytes()


def test_a_missing_lambda_json_is_named(tmp_path, capsys):
    root, metrics, predictions, weights = _study(tmp_path)
    code, out = _run(tmp_path, metrics, predictions, weights[:-1], root, n_boot=0)
    assert code != 0
    assert "no lambda.json given for icd9 damc split 2" in capsys.readouterr().err
    assert not (out / "composition.csv").exists()


def test_which_studies_get_the_table():
    blocks = ["lego_block.a", "lego_block.b"]
    assert composition_runs([*blocks, "lego_merge"]) == []  # nothing to compare but the blocks
    assert composition_runs([*blocks, "lego_fuse", "naive_mc"]) == []  # no LegoMerge
    assert composition_runs([*blocks, "lego_merge", "lego_fuse", "snn.a", "healnet"]) == [
        *blocks, "lego_merge", "lego_fuse",
    ]  # fmt: skip
    assert weights_text({"a": 0.5, "b": 0.5}) == "equal"
    assert weights_text({"a": 0.25, "b": 0.75}) == "a 0.25 · b 0.75"
