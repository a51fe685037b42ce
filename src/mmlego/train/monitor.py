"""The validation score that early stopping watches (higher is better).

survival: Harrell's c-index of the risk (sksurv); binary: ROC AUC of P(class 1); multiclass:
macro one-vs-rest AUC over the classes present in the set. These are computed from
probabilities, never argmax labels. The final reported metrics are the evaluate stage's; this
module only ranks epochs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored

from mmlego.models.losses import survival_outputs


def metric_name(task: str) -> str:
    """Name of the monitored metric for ``task`` (as in metrics.json)."""
    return {"survival": "c_index", "binary": "auc", "multiclass": "auc_macro_ovr"}[task]


def metric_defined(task: str, targets: dict[str, torch.Tensor]) -> bool:
    """Whether the validation metric can be computed on these labels at all."""
    if task == "survival":
        event = targets["event"].numpy().astype(bool)
        time = targets["time"].numpy()
        # A comparable pair needs an event strictly before another patient's time.
        return bool(event.any()) and bool((time[event].min() < time).any())
    return len(np.unique(targets["label"].numpy())) >= 2


def validation_metric(task: str, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> float:
    """The monitored metric, or NaN when the labels do not define it."""
    if not metric_defined(task, targets):
        return math.nan
    if task == "survival":
        _, _, risk = survival_outputs(logits)
        event = targets["event"].numpy().astype(bool)
        return float(concordance_index_censored(event, targets["time"].numpy(), risk.numpy())[0])
    probs = torch.softmax(logits, dim=1).numpy()
    labels = targets["label"].numpy()
    if task == "binary":
        return float(roc_auc_score(labels, probs[:, 1]))
    aucs = [
        roc_auc_score(labels == k, probs[:, k])
        for k in range(probs.shape[1])
        if 0 < (labels == k).sum() < len(labels)
    ]
    return float(np.mean(aucs))
