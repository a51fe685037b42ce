"""Metrics from saved predictions: survival (Harrell, Uno, IBS) and classification (AUC, AP).

Every metric is the library's definition (scikit-survival, scikit-learn) applied to the
predictions of one set. A metric that the data cannot define (no events, a single class,
no comparable pairs, a follow-up too short for the Brier grid) is NaN with an
:class:`UndefinedMetricWarning` that says why, never a crash: a tiny validation set of a
demo split must not stop the study.

Survival predictions are per-bin survival probabilities ``surv_j = P(T >= e_{j+1})`` of a
discrete-time model with bin edges ``e_0 = 0 < e_1 < ... < e_B = inf``: the value is known at
the right edge of each bin. The survival *function* used by the Brier score is the step
function through these known values, carried forward until the next edge:

    S(t) = 1          for t < e_1
    S(t) = surv_j     for e_{j+1} <= t < e_{j+2}

(the mass of a bin is taken off at its right edge, so S never drops before the model says it
has). The integrated Brier score integrates this over a grid of ``IBS_GRID`` equally spaced
times from the first test follow-up time to the last finite bin edge, clipped to lie strictly
inside both the test follow-up and the train follow-up (the censoring distribution for the
IPCW weights is fitted on the train split and is unknown beyond it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sksurv.exceptions import NoComparablePairException
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    integrated_brier_score,
)
from sksurv.util import Surv

IBS_GRID = 50


class UndefinedMetricWarning(RuntimeWarning):
    """A metric that the data cannot define; its value is NaN."""


def _undefined(name: str, why: str) -> float:
    warnings.warn(
        f"{name} is undefined: {why}; reported as NaN", UndefinedMetricWarning, stacklevel=3
    )
    return float("nan")


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index (higher risk = earlier event); ties in risk count 1/2."""
    event = np.asarray(event, dtype=bool)
    if not event.any():
        return _undefined("c_index", "every sample is censored")
    try:
        return float(
            concordance_index_censored(event, np.asarray(time, float), np.asarray(risk, float))[0]
        )
    except NoComparablePairException:
        return _undefined("c_index", "no comparable pair of samples")


def uno_c(
    train_time: np.ndarray,
    train_event: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
) -> float:
    """Uno's IPCW concordance, censoring distribution fitted on the train split.

    Truncated at ``tau`` = the largest train follow-up time: below it the train censoring
    survival G is strictly positive, so the weights 1/G^2 are finite.
    """
    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, float)
    tau = float(np.max(train_time))
    if not (event & (time < tau)).any():
        return _undefined("c_index_uno", f"no event before tau = {tau:g} (the train follow-up)")
    try:
        return float(
            concordance_index_ipcw(
                Surv.from_arrays(np.asarray(train_event, bool), np.asarray(train_time, float)),
                Surv.from_arrays(event, time),
                np.asarray(risk, float),
                tau=tau,
            )[0]
        )
    except NoComparablePairException:
        return _undefined("c_index_uno", "no comparable pair of samples before tau")


def survival_at(surv: np.ndarray, edges: Sequence[float], times: np.ndarray) -> np.ndarray:
    """Evaluate the per-bin survival ``surv`` (n, B) as the step function above at ``times``."""
    surv = np.asarray(surv, float)
    inner = np.asarray(edges, float)[1:]
    passed = np.searchsorted(inner, np.asarray(times, float), side="right")  # edges e_1.. <= t
    padded = np.concatenate([np.ones((surv.shape[0], 1)), surv], axis=1)
    return padded[:, passed]


def brier_grid(
    edges: Sequence[float], time: np.ndarray, train_time: np.ndarray, n: int = IBS_GRID
) -> np.ndarray | None:
    """The IBS time grid (see the module docstring), or None when the range is empty."""
    finite = [e for e in edges if np.isfinite(e)]
    lo = float(np.min(time))
    follow_up = min(float(np.max(time)), float(np.max(train_time)))
    hi = min(finite[-1], float(np.nextafter(follow_up, -np.inf)))
    if not hi > lo:
        return None
    return np.linspace(lo, hi, n)


def integrated_brier(
    train_time: np.ndarray,
    train_event: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    surv: np.ndarray,
    edges: Sequence[float],
) -> float:
    """Integrated Brier score of the step survival function over :func:`brier_grid`."""
    time = np.asarray(time, float)
    grid = brier_grid(edges, time, train_time)
    if grid is None:
        return _undefined("ibs", "the test follow-up does not overlap the bins' time range")
    # Test samples followed beyond the train follow-up are controls at every grid time, so
    # their own censoring weight is never used; clipping keeps sksurv's KM lookup in range.
    clipped = np.minimum(time, float(np.max(train_time)))
    try:
        return float(
            integrated_brier_score(
                Surv.from_arrays(np.asarray(train_event, bool), np.asarray(train_time, float)),
                Surv.from_arrays(np.asarray(event, bool), clipped),
                survival_at(surv, edges, grid),
                grid,
            )
        )
    except ValueError as err:
        return _undefined("ibs", str(err))


def binary_auc(label: np.ndarray, prob_pos: np.ndarray) -> float:
    """ROC AUC from the positive-class probability (never from thresholded labels)."""
    if len(np.unique(label)) < 2:
        return _undefined("auc", f"only class {np.unique(label).tolist()} is present")
    return float(roc_auc_score(label, prob_pos))


def binary_average_precision(label: np.ndarray, prob_pos: np.ndarray) -> float:
    """Average precision of the positive class (undefined without positives)."""
    if not np.any(np.asarray(label) == 1):
        return _undefined("average_precision", "no positive sample")
    return float(average_precision_score(label, prob_pos))


def macro_ovr_auc(label: np.ndarray, probs: np.ndarray) -> float:
    """Unweighted mean of the one-vs-rest ROC AUCs of the classes that the set can score.

    With every class present this equals ``roc_auc_score(multi_class="ovr", average="macro")``.
    A class absent from the set (or the only class) has no AUC: it is left out with a warning.
    """
    label = np.asarray(label)
    probs = np.asarray(probs, float)
    scores, skipped = [], []
    for c in range(probs.shape[1]):
        positive = label == c
        if positive.all() or not positive.any():
            skipped.append(c)
            continue
        scores.append(roc_auc_score(positive, probs[:, c]))
    if not scores:
        return _undefined("auc_macro_ovr", "no class has both positive and negative samples")
    if skipped:
        warnings.warn(
            f"auc_macro_ovr: classes {skipped} are absent from this set; the macro mean covers "
            f"the other {len(scores)} classes",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    return float(np.mean(scores))
