"""The monitored validation metric per task gives scikit-learn's floats exactly (early stopping
compares them for equality; the c-index and AUC themselves: test_fast_metrics.py)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from mmlego.train.monitor import validation_metric


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
