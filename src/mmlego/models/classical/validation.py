"""How a candidate scores on the validation patients: its loss and the task's primary metric.

- loss: the negative log-likelihood of the validation patients under the candidate, per
  event or per patient: the Cox partial likelihood of the risk scores (Breslow's handling
  of ties; risk sets within the validation set) for survival, the log loss of the class
  probabilities otherwise. Both are proper scoring rules of the model's own likelihood, so
  a setting that shrinks too much or too little loses, and on a small validation set they
  move smoothly with the setting where a c-index or an AUC jumps;
- metric: Harrell's c-index, AUC or macro one-vs-rest AUC, as the metrics step computes them.

An undefined value (no event, a single class) is NaN with an ``UndefinedMetricWarning``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import log_loss

from mmlego.data.transforms import SplitData
from mmlego.evaluate.metrics import (
    UndefinedMetricWarning,
    binary_auc,
    harrell_c,
    macro_ovr_auc,
)
from mmlego.models.classical.results import Prediction


def cox_partial_nll(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Mean over events of -[risk_i - log sum_{j: t_j >= t_i} exp(risk_j)] (Breslow ties)."""
    time, risk = np.asarray(time, float), np.asarray(risk, float)
    event = np.asarray(event, bool)
    if not event.any():
        warnings.warn(
            "the Cox partial likelihood is undefined: no event; reported as NaN",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    order = np.argsort(time, kind="stable")
    sorted_time = time[order]
    # log of the sum of exp(risk) over the patients from each sorted position to the end
    tail = np.logaddexp.accumulate(risk[order][::-1])[::-1]
    start = np.searchsorted(sorted_time, time[event], side="left")
    return float(np.mean(tail[start] - risk[event]))


def validation_loss(data: SplitData, prediction: Prediction) -> float:
    """The candidate's negative log-likelihood on the validation patients."""
    truth = data.labels.iloc[data.indices("val")]
    if data.task == "survival":
        assert prediction.risk is not None
        time, event = truth["time"].to_numpy(float), truth["event"].to_numpy(int)
        return cox_partial_nll(time, event, prediction.risk)
    assert prediction.probs is not None
    label = truth["label"].to_numpy(np.int64)
    return float(log_loss(label, prediction.probs, labels=np.arange(data.n_out)))


def validation_metric(data: SplitData, prediction: Prediction) -> float:
    """The task's primary metric on the validation patients."""
    truth = data.labels.iloc[data.indices("val")]
    if data.task == "survival":
        assert prediction.risk is not None
        return harrell_c(
            truth["time"].to_numpy(float), truth["event"].to_numpy(int), prediction.risk
        )
    assert prediction.probs is not None
    label = truth["label"].to_numpy(np.int64)
    if data.task == "binary":
        return binary_auc(label, prediction.probs[:, 1])
    return macro_ovr_auc(label, prediction.probs)
