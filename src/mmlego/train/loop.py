"""The one training loop of every model (LegoBlocks, LegoFuse and the baselines).

:func:`fit` trains with AdamW on the split's train patients, evaluates the validation patients
after every epoch and stops when the validation score (``train.select_on``: the metric or the
loss, see :class:`~mmlego.train.monitor.EpochSelection`) has not improved for ``patience``
epochs. Epochs before ``train.min_epochs`` are never kept and never stop the run. The weights
of the best validation epoch are deep-copied when they occur and loaded back at the end (the
released code's shallow ``state_dict`` copy silently kept the last epoch). The test set is never looked at here.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn

from mmlego.models.base import MultimodalModel
from mmlego.models.losses import TaskLoss, inverse_frequency_weights
from mmlego.train.data import PatientDataset, ids_with_modalities
from mmlego.train.monitor import (
    SELECT_ON,
    EpochSelection,
    metric_defined,
    metric_name,
    validation_metric,
)

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

log = logging.getLogger(__name__)

LOG_COLUMNS = ["epoch", "train_loss", "val_loss", "val_metric", "lr", "seconds"]


@dataclass
class FitResult:
    """What :func:`fit` learned: the best epoch, its score and the per-epoch log."""

    best_epoch: int
    best_score: float
    monitor: str
    log: pd.DataFrame


def model_datasets(
    model: MultimodalModel, data: SplitData, set_name: str, require: Sequence[str] = ()
) -> PatientDataset:
    """The patients of ``set_name`` having every modality of ``require``, as a dataset."""
    ids = ids_with_modalities(data, data.sets[set_name], require)
    return PatientDataset(data, ids, list(model.modalities) or None)


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: PatientDataset,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[str]]:
    """Logits (on the CPU), targets and patient ids of every patient of ``dataset``, in order."""
    model.eval()
    logits, targets, ids = [], [], []
    for batch, target, batch_ids in dataset.loader(batch_size, shuffle=False):
        logits.append(model({m: b.to(device) for m, b in batch.items()}).float().cpu())
        targets.append(target)
        ids += batch_ids
    merged = {k: torch.cat([t[k] for t in targets]) for k in targets[0]} if targets else {}
    return torch.cat(logits) if logits else torch.zeros(0), merged, ids


def compile_for_training(model: nn.Module) -> None:
    """``train.compile``: ``torch.compile`` the model in place, through its own
    ``compile_real_parts`` where it has one (a LegoBlock keeps its complex FFT eager)."""
    compile_parts = getattr(model, "compile_real_parts", None)
    (compile_parts or model.compile)()


def _scheduler(name: str, optimizer: torch.optim.Optimizer, epochs: int) -> Any:
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=2)
    return None


def fit(
    model: MultimodalModel,
    data: SplitData,
    cfg: dict[str, Any],
    *,
    require: Sequence[str] = (),
    device: torch.device | str = "cpu",
    seed: int = 0,
    lr: float | None = None,
    epochs: int | None = None,
    on_epoch_end: Callable[[int, MultimodalModel, dict[str, float]], None] | None = None,
    restore_best: bool = True,
) -> FitResult:
    """Train ``model`` on ``data`` (a SplitData) with early stopping on validation.

    Args:
        cfg: the ``train`` config section (epochs, batch_size, lr, weight_decay, patience,
            select_on, min_epochs, scheduler, grad_clip, survival_alpha, class_weights,
            compile: ``torch.compile`` the model first, off by default).
            ``min_epochs`` is capped at the run's ``epochs`` (LegoFuse fine-tunes for fewer).
        require: modalities a patient must have to be used for training and validation (a
            LegoBlock requires its own; LegoFuse all of them).
        lr, epochs: override ``cfg`` (LegoFuse fine-tunes with its own rate and epochs).
        on_epoch_end: called after each epoch with (epoch, model, log row), e.g. by tests;
            the row also holds ``score`` (what the epoch is ranked by) and ``candidate``
            (whether the epoch may be chosen, i.e. it is not before ``min_epochs``).
        restore_best: load the best epoch's weights at the end; False keeps the last epoch's
            (LegoFuse's ``fuse.select: last``).

    Returns the best epoch and the log; ``model`` ends holding the best epoch's weights
    (the last epoch's if not ``restore_best``).
    """
    epochs = int(epochs or cfg["epochs"])
    lr = float(lr or cfg["lr"])
    train_set = model_datasets(model, data, "train", require)
    val_set = model_datasets(model, data, "val", require)
    for name, dataset in (("train", train_set), ("val", val_set)):
        if len(dataset) == 0:
            raise ValueError(
                f"no {name} patients have the modalities {list(require)}; check the modality "
                "store's 'present' flags and the split"
            )
    model.to(device)
    if cfg.get("compile", False):
        compile_for_training(model)
    class_weight = None
    if data.task != "survival" and cfg.get("class_weights", False):
        class_weight = inverse_frequency_weights(train_set.targets["label"], data.n_out)
    loss_fn = TaskLoss(data.task, alpha=cfg.get("survival_alpha", 0.4), class_weight=class_weight)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.get("weight_decay", 0.0))
    scheduler = _scheduler(cfg.get("scheduler", "none"), optimizer, epochs)
    grad_clip = cfg.get("grad_clip")
    select_on = cfg.get("select_on", "metric")
    if select_on not in SELECT_ON:
        raise ValueError(
            f"config key 'train.select_on': {select_on!r} is not one of {', '.join(SELECT_ON)}"
        )
    defined = metric_defined(data.task, val_set.targets)
    use_metric = select_on == "metric" and defined
    monitor = metric_name(data.task) if use_metric else "val_loss"
    if select_on == "metric" and not defined:
        log.warning(
            "the validation labels do not define %s; early stopping watches the val loss",
            metric_name(data.task),
        )
    loader = train_set.loader(int(cfg["batch_size"]), shuffle=True, seed=seed)

    selection = EpochSelection(
        use_metric,
        min_epochs=min(int(cfg.get("min_epochs", 1)), epochs),
        patience=int(cfg.get("patience", epochs)),
    )
    best_state = copy.deepcopy(model.state_dict())
    rows = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for batch, targets, _ in loader:
            outputs = model.training_logits({m: b.to(device) for m, b in batch.items()})
            on_device = {k: v.to(device) for k, v in targets.items()}
            loss = torch.stack([loss_fn(logits, on_device) for logits in outputs]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(params, float(grad_clip))
            optimizer.step()
            total += float(loss.detach()) * len(outputs[-1])
            count += len(outputs[-1])
        val_logits, val_targets, _ = predict(model, val_set, device=device)
        val_loss = float(loss_fn(val_logits, val_targets))
        val_metric = validation_metric(data.task, val_logits, val_targets)
        row = {
            "epoch": epoch,
            "train_loss": total / max(count, 1),
            "val_loss": val_loss,
            "val_metric": val_metric,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - start,
        }
        rows.append(row)
        if selection.offer(epoch, val_metric, val_loss):
            best_state = copy.deepcopy(model.state_dict())
        log.info(
            "epoch %d: train loss %.4f, val loss %.4f, val %s %.4f%s",
            epoch, row["train_loss"], val_loss, metric_name(data.task), val_metric,
            " (best)" if selection.best_epoch == epoch else "",
        )  # fmt: skip
        if on_epoch_end is not None:
            # score and candidate go to the callback only (train_log.csv keeps its columns).
            extra = {
                "score": selection.score(val_metric, val_loss),
                "candidate": selection.candidate(epoch),
            }
            on_epoch_end(epoch, model, {**row, **extra})
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(selection.score(val_metric, val_loss))
        elif scheduler is not None:
            scheduler.step()
        if selection.should_stop(epoch):
            log.info("early stop after epoch %d: best epoch %d", epoch, selection.best_epoch)
            break
    if restore_best:
        model.load_state_dict(best_state)
    frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    return FitResult(selection.best_epoch, selection.best_score, monitor, frame)
