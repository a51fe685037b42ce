"""The validation score that early stopping watches (higher is better).

``train.select_on`` picks it: ``metric`` (the default) ranks epochs by the validation metric
below, or by minus the validation loss when the validation labels do not define the metric;
``loss`` always by minus the validation loss, which is smooth where a c-index on twenty
patients jumps from epoch to epoch.

survival: Harrell's c-index of the risk; binary: ROC AUC of P(class 1); multiclass: macro
one-vs-rest AUC over the classes present in the set. These are computed from probabilities,
never argmax labels. The final reported metrics are the evaluate stage's; this module only
ranks epochs.

Both come from :mod:`mmlego.evaluate.fast_metrics`, numpy only, with the same floats as
scikit-survival's and scikit-learn's: importing those two packages (and SciPy under them) would
cost every training job about 1.4 CPU-seconds, more than a demo split's training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mmlego.evaluate.fast_metrics import harrell_c, macro_ovr_auc, roc_auc
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
    return macro_ovr_auc(labels, probs)


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
