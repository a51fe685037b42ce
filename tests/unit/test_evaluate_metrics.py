"""Metrics against hand-computed values, and their edge cases (NaN with a warning, no crash)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mmlego.cli import main
from mmlego.data.labels import write_labels
from mmlego.evaluate.metrics import (
    UndefinedMetricWarning,
    binary_auc,
    binary_average_precision,
    brier_grid,
    harrell_c,
    integrated_brier,
    macro_ovr_auc,
    survival_at,
    uno_c,
)
from mmlego.predictions import read_predictions
from tests.evaluate_fixtures import (
    classification_study,
    store_args,
    survival_study,
    write_predictions,
)

TIME = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
EVENT = np.array([1, 0, 1, 1, 0])
RISK = np.array([0.9, 0.5, 0.7, 0.2, 0.2])


def test_harrell_counts_pairs_and_half_credits_tied_risks():
    # comparable pairs: 4 from t=1, 2 from t=3, 1 from t=4 (a tie in risk): 6.5 / 7
    assert harrell_c(TIME, EVENT, RISK) == pytest.approx(6.5 / 7)
    assert harrell_c(TIME, EVENT, -RISK) == pytest.approx(0.5 / 7)


def test_uno_weights_pairs_by_the_train_censoring_distribution():
    # train censoring KM: G = 1 before 2, 0.8 on [2, 5), 0.4 from 5; tau = 6
    train_time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    train_event = np.array([1, 0, 1, 1, 0, 1])
    time = np.array([1.5, 2.5, 4.5, 5.5])
    event = np.array([1, 1, 1, 0])
    risk = np.array([4.0, 3.0, 1.0, 2.0])
    w = 1 / 0.8**2
    expected = (3 + 2 * w) / (3 + 3 * w)
    assert uno_c(train_time, train_event, time, event, risk) == pytest.approx(expected)
    assert harrell_c(time, event, risk) == pytest.approx(5 / 6)


def test_uno_equals_harrell_without_censoring_in_train():
    train_time = np.arange(1.0, 11.0)
    got = uno_c(train_time, np.ones(10), TIME, EVENT, RISK)
    assert got == pytest.approx(6.5 / 7)


def test_step_survival_function_uses_the_value_at_the_last_edge_passed():
    edges = [0.0, 2.0, 4.0, np.inf]
    surv = np.array([[0.8, 0.5, 0.1]])
    got = survival_at(surv, edges, np.array([0.5, 1.999, 2.0, 3.9, 4.0, 1e6]))
    np.testing.assert_allclose(got, [[1.0, 1.0, 0.8, 0.8, 0.5, 0.5]])


def _brier_by_hand(time, event, surv_fn, grid):
    """IPCW Brier with G = 1 (no censoring in train), trapezoid-integrated, by hand."""
    scores = []
    for t in grid:
        s = surv_fn(t)
        case = (time <= t) & (event == 1)
        control = time > t
        scores.append(np.mean(s**2 * case + (1 - s) ** 2 * control))
    scores = np.array(scores)
    return np.sum((scores[1:] + scores[:-1]) / 2 * np.diff(grid)) / (grid[-1] - grid[0])


def test_integrated_brier_matches_a_hand_computation():
    edges = [0.0, 2.0, 4.0, 6.0, np.inf]
    time = np.array([1.0, 2.5, 3.0, 5.0, 7.0, 9.0])
    event = np.array([1, 1, 0, 1, 1, 0])
    surv = np.array(
        [
            [0.3, 0.2, 0.1, 0.0],
            [0.9, 0.4, 0.3, 0.1],
            [0.9, 0.8, 0.5, 0.2],
            [0.9, 0.8, 0.3, 0.1],
            [1.0, 0.9, 0.8, 0.3],
            [1.0, 0.95, 0.9, 0.8],
        ]
    )
    train_time, train_event = np.arange(1.0, 21.0), np.ones(20)
    grid = brier_grid(edges, time, train_time)
    assert grid[0] == 1.0 and grid[-1] == 6.0  # test follow-up start .. last finite edge
    expected = _brier_by_hand(time, event, lambda t: survival_at(surv, edges, [t])[:, 0], grid)
    got = integrated_brier(train_time, train_event, time, event, surv, edges)
    assert got == pytest.approx(expected)
    # informative predictions beat "everyone survives"
    assert got < integrated_brier(train_time, train_event, time, event, np.ones_like(surv), edges)


def test_integrated_brier_handles_test_times_beyond_the_train_follow_up():
    edges = [0.0, 2.0, 4.0, np.inf]
    time = np.array([1.0, 3.0, 50.0])
    surv = np.full((3, 3), 0.5)
    train_time, train_event = np.array([1.0, 2.0, 5.0, 8.0]), np.array([1, 1, 1, 1])
    assert np.isfinite(
        integrated_brier(train_time, train_event, time, np.array([1, 1, 1]), surv, edges)
    )


def test_binary_auc_and_ap_from_probabilities():
    label = np.array([0, 0, 0, 1, 1])
    prob = np.array([0.1, 0.2, 0.3, 0.25, 0.45])
    # thresholding at 0.5 would predict all negatives (balanced accuracy 0.5); the AUC is 5/6
    assert binary_auc(label, prob) == pytest.approx(5 / 6)
    # ranked: 0.45(+) 0.3(-) 0.25(+): precision 1 at recall 1/2, 2/3 at recall 1
    assert binary_average_precision(label, prob) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_macro_ovr_auc_by_hand_and_as_sklearn():
    label = np.array([0, 1, 2, 0, 1, 2])
    probs = np.array(
        [
            [0.6, 0.3, 0.1],
            [0.2, 0.5, 0.3],
            [0.1, 0.2, 0.7],
            [0.3, 0.4, 0.3],
            [0.5, 0.3, 0.2],
            [0.2, 0.5, 0.3],
        ]
    )
    # one-vs-rest pairs won of 8 (ties count 1/2): class 0 7, class 1 5, class 2 4 + 3
    per_class = [roc_auc_score(label == c, probs[:, c]) for c in range(3)]
    assert per_class == pytest.approx([7 / 8, 5 / 8, 7 / 8])
    assert macro_ovr_auc(label, probs) == pytest.approx(np.mean(per_class))
    assert macro_ovr_auc(label, probs) == pytest.approx(
        roc_auc_score(label, probs, multi_class="ovr", average="macro")
    )


def test_macro_ovr_auc_leaves_out_an_absent_class_with_a_warning():
    label = np.array([0, 1, 0, 1])
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.4, 0.4, 0.2]])
    with pytest.warns(UndefinedMetricWarning, match=r"classes \[2\] are absent"):
        got = macro_ovr_auc(label, probs)
    assert got == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: harrell_c(TIME, np.zeros(5), RISK), "every sample is censored"),
        (lambda: uno_c(TIME, EVENT, TIME, np.zeros(5), RISK), "no event before tau"),
        (lambda: binary_auc(np.ones(4), np.linspace(0, 1, 4)), "only class"),
        (lambda: binary_average_precision(np.zeros(4), np.linspace(0, 1, 4)), "no positive"),
        (lambda: macro_ovr_auc(np.zeros(3), np.full((3, 2), 0.5)), "no class has both"),
        (
            lambda: integrated_brier(
                TIME,
                EVENT,
                np.array([7.0, 8.0]),
                np.array([1, 0]),
                np.full((2, 2), 0.5),
                [0.0, 3.0, np.inf],
            ),
            "does not overlap",
        ),
    ],
)
def test_undefined_metrics_are_nan_with_a_warning(call, match):
    with pytest.warns(UndefinedMetricWarning, match=match):
        assert np.isnan(call())


def test_metrics_cli_writes_metrics_json_for_survival(tmp_path):
    paths = survival_study(tmp_path, n=60)
    out = tmp_path / "metrics.json"
    argv = [
        "metrics",
        "--predictions",
        str(paths["predictions"]),
        "--labels",
        str(paths["labels"]),
        "--splits",
        str(paths["splits"]),
        *store_args(paths["labels"].parent),
        "--split",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["task"] == "survival" and doc["run"] == "lego_merge" and doc["split"] == 0
    assert doc["n"] == {"val": 12, "test": 12}
    assert set(doc["test"]) == {"c_index", "c_index_uno", "ibs"}
    assert doc["test"]["c_index"] > 0.6  # the risk carries signal
    assert 0 <= doc["test"]["ibs"] <= 1
    assert doc["provenance"]["predictions_provenance"]["seed"] == 0
    assert doc["train_seconds"] is None  # no --train-log: a run without training
    log = tmp_path / "elsewhere" / "log.csv"  # read where it is given, not beside the predictions
    log.parent.mkdir()
    pd.DataFrame({"epoch": [1, 2], "seconds": [1.5, 2.0]}).to_csv(log, index=False)
    assert main([*argv, "--train-log", str(log)]) == 0
    assert json.loads(out.read_text())["train_seconds"] == pytest.approx(3.5)


@pytest.mark.parametrize(("n_classes", "metric"), [(2, "auc"), (4, "auc_macro_ovr")])
def test_metrics_cli_classification(tmp_path, n_classes, metric):
    paths = classification_study(tmp_path, n_classes=n_classes, n=80)
    out = tmp_path / "metrics.json"
    argv = [
        "metrics",
        "--predictions",
        str(paths["predictions"]),
        "--labels",
        str(paths["labels"]),
        "--splits",
        str(paths["splits"]),
        *store_args(paths["labels"].parent),
        "--split",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    preds = read_predictions(paths["predictions"])
    test = preds.frame[preds.subset("test")]
    probs = preds.matrix("prob", preds.subset("test"))
    expected = (
        roc_auc_score(test["label"], probs[:, 1])
        if n_classes == 2
        else roc_auc_score(test["label"], probs, multi_class="ovr")
    )
    assert doc["test"][metric] == pytest.approx(expected)
    assert doc["test"][metric] > 0.6


def test_undefined_val_metric_is_null_in_json(tmp_path):
    paths = survival_study(tmp_path, n=40)
    preds = read_predictions(paths["predictions"])
    frame = preds.frame.copy()
    frame.loc[frame["set"] == "val", "event"] = 0
    labels = pd.read_parquet(paths["labels"])
    labels.loc[
        labels["patient_id"].isin(frame.loc[frame["set"] == "val", "patient_id"]), "event"
    ] = 0
    write_labels(paths["labels"], labels, "survival", provenance={})
    write_predictions(
        paths["predictions"], frame, **{k: v for k, v in preds.meta.items() if k != "provenance"}
    )
    out = tmp_path / "m.json"
    argv = [
        "metrics",
        "--predictions",
        str(paths["predictions"]),
        "--labels",
        str(paths["labels"]),
        "--splits",
        str(paths["splits"]),
        *store_args(paths["labels"].parent),
        "--split",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["val"]["c_index"] is None and doc["events"]["val"] == 0
    assert doc["test"]["c_index"] is not None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.assign(prob_1=f["prob_1"] * 2), "sum to 1"),
        (
            lambda f: f[f["patient_id"] != f.loc[f["set"] == "test", "patient_id"].iloc[0]],
            "do not match split 0",
        ),
        (lambda f: f.assign(label=(f["label"] + 1) % 2), "disagrees with labels.parquet"),
        (lambda f: f.drop(columns="label"), r"missing column\(s\) \['label'\]"),
    ],
)
def test_bad_predictions_fail_with_one_clear_message(tmp_path, capsys, mutate, message):
    paths = classification_study(tmp_path, n_classes=2, n=40)
    preds = read_predictions(paths["predictions"])
    write_predictions(
        paths["predictions"],
        mutate(preds.frame),
        **{k: v for k, v in preds.meta.items() if k != "provenance"},
    )
    out = tmp_path / "m.json"
    argv = [
        "metrics",
        "--predictions",
        str(paths["predictions"]),
        "--labels",
        str(paths["labels"]),
        "--splits",
        str(paths["splits"]),
        *store_args(paths["labels"].parent),
        "--split",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 1
    assert not out.exists()
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("task", ["survival", "multiclass"])
def test_metrics_read_what_the_training_stage_writes(tmp_path, task):
    """The training stage's own writer (mmlego.train.outputs) and this reader agree."""
    torch = pytest.importorskip("torch")
    from mmlego.predictions import write_predictions as write_stage_predictions
    from mmlego.train.outputs import predictions_frame

    if task == "survival":
        paths = survival_study(tmp_path, n=40)
        n_out, bins = 4, [0.0, 1.0, 3.0, 8.0, float("inf")]
    else:
        paths = classification_study(tmp_path, n_classes=3, n=45)
        n_out, bins = 3, None
    labels = pd.read_parquet(paths["labels"])
    sets = json.loads(paths["splits"].read_text())["splits"][0]
    torch.manual_seed(0)
    frames = [
        predictions_frame(
            task, torch.randn(len(sets[s]), n_out), sets[s], labels, set_name=s, split=0
        )
        for s in ("val", "test")
    ]
    meta = {"task": task, "bins": bins, "classes": None, "run": "lego_merge", "dataset": "toy"}
    write_stage_predictions(paths["predictions"], pd.concat(frames), meta)
    out = tmp_path / "metrics.json"
    argv = [
        "metrics",
        "--predictions",
        str(paths["predictions"]),
        "--labels",
        str(paths["labels"]),
        "--splits",
        str(paths["splits"]),
        *store_args(paths["labels"].parent),
        "--split",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["n"]["test"] == len(sets["test"])
    assert all(v is None or 0 <= v <= 1 for v in doc["test"].values())
