"""numpy's c-index and AUC give scikit-survival's and scikit-learn's floats exactly (early
stopping and the paired bootstrap rely on it), and NaN where those raise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored

from mmlego.evaluate.fast_metrics import harrell_c, macro_ovr_auc, roc_auc, task_metric


def test_harrell_c_by_hand():
    # Events at t=1 (risk 3) and t=2 (risk 1); censored at t=2 (risk 1) and t=3 (risk 2).
    event = np.array([True, True, False, False])
    time = np.array([1.0, 2.0, 2.0, 3.0], dtype=np.float32)
    risk = np.array([3.0, 1.0, 1.0, 2.0], dtype=np.float32)
    # Pairs: (0,1) (0,2) (0,3) concordant; (1,2) tied risk, same time, censored: 1/2;
    # (1,3) discordant. (3 + 0.5) / 5.
    assert harrell_c(event, time, risk) == 0.7


def test_roc_auc_by_hand():
    positive = np.array([False, False, True, True])
    score = np.array([0.1, 0.4, 0.35, 0.8], dtype=np.float32)
    assert roc_auc(positive, score) == 0.75


@pytest.mark.parametrize("seed", range(40))
def test_the_same_floats_as_sksurv_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 200))
    # Coarse values: many tied times, tied risks and tied scores, as a small validation set
    # of a barely trained model gives.
    levels = int(rng.integers(2, 12))
    time = rng.integers(1, levels + 1, size=n).astype(np.float32)
    event = rng.random(n) < rng.uniform(0.2, 0.9)
    event[0] = True
    time[0] = 0.5  # one comparable pair at least
    risk = (rng.integers(0, levels, size=n) / levels + rng.normal(0, 1e-9, n)).astype(np.float32)
    expected = concordance_index_censored(event, time, risk)[0]
    assert harrell_c(event, time, risk) == expected
    positive = rng.random(n) < 0.3
    positive[:2] = [True, False]
    score = rng.integers(0, levels, size=n).astype(np.float32) / np.float32(levels)
    if seed % 2:
        score = rng.random(n).astype(np.float32)
    assert roc_auc(positive, score) == roc_auc_score(positive, score)


def test_auc_by_hand_with_tied_scores():
    # Positives scored 0.9 and 0.5, negatives 0.5 and 0.1 -> (2 + 1.5) / 4.
    assert roc_auc(np.array([1, 1, 0, 0], bool), np.array([0.9, 0.5, 0.5, 0.1])) == 0.875


def test_undefined_metrics_are_nan():
    assert math.isnan(roc_auc(np.ones(5, bool), np.arange(5.0)))
    assert math.isnan(roc_auc(np.zeros(5, bool), np.arange(5.0)))
    # Every patient censored; then one event at the last time, which no one outlives.
    time = np.array([1.0, 2.0, 3.0])
    assert math.isnan(harrell_c(np.zeros(3, bool), time, np.arange(3.0)))
    assert math.isnan(harrell_c(np.array([False, False, True]), time, np.arange(3.0)))


def test_macro_auc_leaves_out_the_classes_absent_from_the_labels():
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(4), 30)
    label = rng.choice(3, 30)  # class 3 never occurs
    expected = np.mean([roc_auc_score(label == k, probs[:, k]) for k in range(3)])
    assert macro_ovr_auc(label, probs) == float(expected)
    assert math.isnan(macro_ovr_auc(np.zeros(30, int), probs))


def test_task_metric_scores_each_task_as_the_libraries_do():
    rng = np.random.default_rng(11)
    n = 50
    time, event, risk = rng.integers(1, 9, n).astype(float), rng.random(n) < 0.5, rng.normal(size=n)
    survival = task_metric("survival", risk, {"time": time, "event": event})
    assert survival == concordance_index_censored(event, time, risk)[0]
    probs = rng.dirichlet(np.ones(2), n)
    label = rng.choice(2, n)
    assert task_metric("binary", probs, {"label": label}) == roc_auc_score(label, probs[:, 1])
    probs3, label3 = rng.dirichlet(np.ones(3), n), rng.choice(3, n)
    expected = roc_auc_score(label3, probs3, multi_class="ovr", average="macro")
    assert task_metric("multiclass", probs3, {"label": label3}) == pytest.approx(
        expected, abs=1e-15
    )
