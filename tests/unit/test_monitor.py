"""The monitored validation metrics: numpy's c-index and AUC give scikit-survival's and
scikit-learn's floats exactly (early stopping compares them for equality)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored

from mmlego.train.monitor import harrell_c, roc_auc, validation_metric


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


def test_validation_metric_matches_the_libraries_per_task():
    rng = np.random.default_rng(7)
    n = 60
    logits = torch.from_numpy(rng.normal(size=(n, 3)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 3, size=n))
    probs = torch.softmax(logits, dim=1).numpy()
    macro = np.mean([roc_auc_score(labels.numpy() == k, probs[:, k]) for k in range(3)])
    assert validation_metric("multiclass", logits, {"label": labels}) == float(macro)
    binary = labels % 2
    two = logits[:, :2]
    p1 = torch.softmax(two, dim=1).numpy()[:, 1]
    assert validation_metric("binary", two, {"label": binary}) == roc_auc_score(binary, p1)
