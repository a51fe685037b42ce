"""Task losses and the map from logits to the predicted quantities.

Survival is a discrete-time hazard model over the split's bins (edges fitted on train):
hazard h_k = sigmoid(logit_k), survival S_k = Π_{j<=k} (1 − h_j), risk = −Σ_k S_k (higher =
earlier death, as the c-index expects). For a patient in bin y with event indicator e:

    uncensored = −e · [log S_{y−1} + log h_y]        (S_{−1} = 1)
    censored   = −(1 − e) · log S_y
    loss       = (1 − α) · (censored + uncensored) + α · uncensored

which is the weighting of the reference code (α = 0.4 by default, config ``train.survival_alpha``).
All logs are computed with ``logsigmoid`` so that saturated logits stay finite.
Classification uses (optionally class-weighted) cross-entropy over ``n_out`` classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def survival_nll(
    logits: torch.Tensor, bin_index: torch.Tensor, event: torch.Tensor, *, alpha: float = 0.4
) -> torch.Tensor:
    """Mean discrete-time hazard NLL; ``logits`` (B, K), ``bin_index`` (B,) in 0..K-1, ``event`` (B,)."""
    log_h = F.logsigmoid(logits)
    log_1mh = F.logsigmoid(-logits)
    # log S_k for k = -1..K-1, with log S_{-1} = 0.
    log_s = torch.cat([torch.zeros_like(log_1mh[:, :1]), torch.cumsum(log_1mh, dim=1)], dim=1)
    y = bin_index.long().unsqueeze(1)
    e = event.to(logits.dtype)
    uncensored = -e * (log_s.gather(1, y).squeeze(1) + log_h.gather(1, y).squeeze(1))
    censored = -(1 - e) * log_s.gather(1, y + 1).squeeze(1)
    loss = (1 - alpha) * (censored + uncensored) + alpha * uncensored
    return loss.mean()


def survival_outputs(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hazards (B, K), survival (B, K) and risk (B,) = −Σ survival from hazard logits."""
    hazards = torch.sigmoid(logits)
    survival = torch.cumprod(1 - hazards, dim=1)
    return hazards, survival, -survival.sum(dim=1)


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, *, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy (class-weighted when ``weight`` is given)."""
    return F.cross_entropy(logits, labels.long(), weight=weight)


def inverse_frequency_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class weights n / (K · count_k); classes absent from ``labels`` get weight 0."""
    counts = torch.bincount(labels.long(), minlength=n_classes).to(torch.float32)
    weights = torch.where(
        counts > 0, len(labels) / (n_classes * counts.clamp_min(1)), torch.zeros_like(counts)
    )
    return weights


class TaskLoss:
    """The loss of one task, called as ``loss(logits, targets)`` with the loader's target dict."""

    def __init__(
        self, task: str, *, alpha: float = 0.4, class_weight: torch.Tensor | None = None
    ) -> None:
        if task not in ("survival", "binary", "multiclass"):
            raise ValueError(f"unknown task {task!r}; choose survival, binary or multiclass")
        self.task = task
        self.alpha = alpha
        self.class_weight = class_weight

    def __call__(self, logits: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.task == "survival":
            return survival_nll(logits, targets["bin"], targets["event"], alpha=self.alpha)
        weight = None if self.class_weight is None else self.class_weight.to(logits.device)
        return classification_loss(logits, targets["label"], weight=weight)
