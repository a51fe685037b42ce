"""Harrell's c-index and ROC AUC in numpy alone, for the callers that score thousands of times.

The training monitor ranks every epoch of every run, the paired bootstrap rescoring thousands of
resamples, and the merge-weight searches every λ. scikit-survival's
``concordance_index_censored`` and scikit-learn's ``roc_auc_score`` check their inputs on every
call (about a millisecond), and importing them (with SciPy under them) costs a training job
about 1.4 CPU-seconds. These two functions do the same counts, divisions and trapezoid sum, so
they give the same floats (tests/unit/test_fast_metrics.py checks it against both packages).
The reported metrics stay those packages' (``mmlego.evaluate.metrics``).

Both return NaN where the metric is undefined (no comparable pair; one class only), silently:
a caller that must tell the user wraps them.
"""

from __future__ import annotations

import math

import numpy as np


def harrell_c(
    event: np.ndarray, time: np.ndarray, risk: np.ndarray, tied_tol: float = 1e-8
) -> float:
    """Harrell's c-index: over the pairs where an event comes strictly before another
    patient's time (or at a censored one's same time), the share where the event has the
    higher ``risk``, risks within ``tied_tol`` counting one half. NaN without a comparable pair.
    """
    # The inputs' own dtypes, as scikit-survival keeps them: a float32 risk's ties are judged
    # in float32 there too.
    event, time, risk = np.asarray(event, dtype=bool), np.asarray(time), np.asarray(risk)
    numerator, denominator = 0.0, 0.0
    for i in np.flatnonzero(event):
        comparable = (time > time[i]) | ((time == time[i]) & ~event)
        others = risk[comparable]
        ties = np.absolute(others - risk[i]) <= tied_tol
        # Whole and half counts: exact in float64, so the sum's order does not matter.
        numerator += float((others[~ties] < risk[i]).sum()) + 0.5 * float(ties.sum())
        denominator += float(comparable.sum())
    return numerator / denominator if denominator else math.nan


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the boolean labels ``positive``: the trapezoid area under the
    ROC curve through its corner points, as scikit-learn draws it. NaN with one class only."""
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos = int(positive.sum())
    if n_pos == 0 or n_pos == positive.size:
        return math.nan
    order = np.argsort(score, kind="mergesort")[::-1]
    sorted_score = score[order]
    # The last row of each distinct score: one curve point per threshold.
    ends = np.r_[np.flatnonzero(np.diff(sorted_score)), len(score) - 1]
    tps = np.cumsum(positive[order].astype(np.float64))[ends]
    fps = 1 + ends.astype(np.float64) - tps
    if len(fps) > 2:
        # Points collinear with their neighbours add nothing to the area; dropping them keeps
        # the trapezoid sum the same sum of the same terms as scikit-learn's.
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        tps, fps = tps[corner], fps[corner]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def macro_ovr_auc(label: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest AUC over the classes that are both present and absent in ``label``
    (columns of ``probs`` are the classes 0..K-1); NaN when no class qualifies."""
    aucs = [roc_auc(label == k, probs[:, k]) for k in range(probs.shape[1])]
    aucs = [a for a in aucs if not math.isnan(a)]
    return float(np.mean(aucs)) if aucs else math.nan


def task_metric(task: str, scores: np.ndarray, targets: dict[str, np.ndarray]) -> float:
    """The task's primary metric from per-patient ``scores`` (the survival risk, or the class
    probabilities) and ``targets`` (``time`` and ``event``, or ``label``); NaN when undefined.
    Binary: the AUC of class 1; multiclass: :func:`macro_ovr_auc`."""
    if task == "survival":
        return harrell_c(targets["event"], targets["time"], scores)
    label = np.asarray(targets["label"])
    if task == "binary":
        return roc_auc(label == 1, scores[:, 1])
    return macro_ovr_auc(label, scores)
