"""The validation score that early stopping watches (higher is better).

``train.select_on`` picks it: ``metric`` (the default) ranks epochs by the validation metric
below, or by minus the validation loss when the validation labels do not define the metric;
``loss`` always by minus the validation loss, which is smooth where a c-index on twenty
patients jumps from epoch to epoch.

survival: Harrell's c-index of the risk; binary: ROC AUC of P(class 1); multiclass: macro
one-vs-rest AUC over the classes present in the set. These are computed from probabilities,
never argmax labels. The final reported metrics are the evaluate stage's; this module only
ranks epochs.

Both are computed here with numpy, in the same arithmetic as scikit-survival's
``concordance_index_censored`` and scikit-learn's ``roc_auc_score`` (the same counts, the
same divisions and trapezoid sum, so the same floats; tests/unit/test_monitor.py checks it):
importing those two packages (and SciPy under them) cost every training job about 1.4
CPU-seconds, more than a demo split's training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mmlego.models.losses import survival_outputs

SELECT_ON = ("metric", "loss")


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


def harrell_c(
    event: np.ndarray, time: np.ndarray, risk: np.ndarray, tied_tol: float = 1e-8
) -> float:
    """Harrell's c-index: over the pairs where an event comes strictly before another
    patient's time (or at a censored one's same time), the share where the event has the
    higher ``risk``, risks within ``tied_tol`` counting one half. Needs a comparable pair."""
    numerator, denominator = 0.0, 0.0
    for i in np.flatnonzero(event):
        comparable = (time > time[i]) | ((time == time[i]) & ~event)
        others = risk[comparable]
        ties = np.absolute(others - risk[i]) <= tied_tol
        # Whole and half counts: exact in float64, so the sum's order does not matter.
        numerator += float((others[~ties] < risk[i]).sum()) + 0.5 * float(ties.sum())
        denominator += float(comparable.sum())
    if denominator == 0:
        raise ValueError("no comparable pair: Harrell's c-index is undefined")
    return numerator / denominator


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the boolean labels ``positive`` (both classes present): the
    trapezoid area under the ROC curve through its corner points, as scikit-learn draws it."""
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


def validation_metric(task: str, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> float:
    """The monitored metric, or NaN when the labels do not define it."""
    if not metric_defined(task, targets):
        return math.nan
    if task == "survival":
        _, _, risk = survival_outputs(logits)
        event = targets["event"].numpy().astype(bool)
        return harrell_c(event, targets["time"].numpy(), risk.numpy())
    probs = torch.softmax(logits, dim=1).numpy()
    labels = targets["label"].numpy()
    if task == "binary":
        return roc_auc(labels == labels.max(), probs[:, 1])
    aucs = [
        roc_auc(labels == k, probs[:, k])
        for k in range(probs.shape[1])
        if 0 < (labels == k).sum() < len(labels)
    ]
    return float(np.mean(aucs))


@dataclass
class EpochSelection:
    """Which epoch the training loop keeps and when it stops, fed one epoch at a time.

    ``use_metric``: rank by the validation metric (else by minus the validation loss);
    epochs before ``min_epochs`` are never kept and never stop the run; the run stops once
    ``patience`` epochs pass without a better score. Ties on the score (frequent for a
    metric on a small validation set) go to the lower validation loss, then the earlier
    epoch. A NaN score is never kept.
    """

    use_metric: bool
    min_epochs: int = 1
    patience: int = 5
    best_epoch: int = 0
    best_score: float = -math.inf
    best_loss: float = math.inf

    def score(self, val_metric: float, val_loss: float) -> float:
        """The score an epoch is ranked by (higher is better)."""
        return val_metric if self.use_metric else -val_loss

    def candidate(self, epoch: int) -> bool:
        """Whether ``epoch`` may be kept (it is not before ``min_epochs``)."""
        return epoch >= self.min_epochs

    def offer(self, epoch: int, val_metric: float, val_loss: float) -> bool:
        """Record ``epoch``'s validation results; True when it becomes the kept epoch."""
        score = self.score(val_metric, val_loss)
        better = score > self.best_score or (score == self.best_score and val_loss < self.best_loss)
        if not (self.candidate(epoch) and better):
            return False
        self.best_epoch, self.best_score, self.best_loss = epoch, score, val_loss
        return True

    def should_stop(self, epoch: int) -> bool:
        """Whether training stops after ``epoch``."""
        return self.candidate(epoch) and epoch - self.best_epoch >= self.patience


def replay(
    log: pd.DataFrame, *, use_metric: bool, min_epochs: int = 1, patience: int = 5
) -> tuple[int, int]:
    """(kept epoch, last epoch trained) of a training log's ``val_metric``/``val_loss`` rows,
    as :func:`~mmlego.train.loop.fit` would choose them."""
    selection = EpochSelection(use_metric, min_epochs, patience)
    last = 0
    for row in log.itertuples(index=False):
        last = int(row.epoch)
        selection.offer(last, float(row.val_metric), float(row.val_loss))
        if selection.should_stop(last):
            break
    return selection.best_epoch, last
