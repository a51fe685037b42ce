"""One training job: build a run's model from the catalogue, fit it, write its three outputs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from mmlego.models.base import InputSpec, MultimodalModel
from mmlego.models.catalogue import get_builder, parse_run
from mmlego.predictions import run_meta, write_predictions
from mmlego.train.data import PatientDataset, modality_spec
from mmlego.train.loop import FitResult, fit, predict
from mmlego.train.outputs import predictions_frame, save_checkpoint
from mmlego.utils.atomic import all_or_none, atomic_path

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

log = logging.getLogger(__name__)


def run_modalities(run: str, data: SplitData) -> dict[str, InputSpec]:
    """``{name: (kind, dim)}`` a run's model takes: its one modality, or all of the split's."""
    _, modality = parse_run(run)
    spec = modality_spec(data)
    if modality is None:
        return spec
    if modality not in spec:
        raise KeyError(f"run {run!r}: the split data has no modality {modality!r} ({list(spec)})")
    return {modality: spec[modality]}


def split_predictions(
    model: MultimodalModel, data: SplitData, *, split: int, device: torch.device | str = "cpu"
) -> pd.DataFrame:
    """Predictions of ``model`` for every val and test patient of the split."""
    frames = []
    for set_name in ("val", "test"):
        dataset = PatientDataset(data, data.sets[set_name], list(model.modalities) or None)
        logits, _, ids = predict(model, dataset, device=device)
        frames.append(
            predictions_frame(data.task, logits, ids, data.labels, set_name=set_name, split=split)
        )
    return pd.concat(frames, ignore_index=True)


def write_run_outputs(
    out_dir: str | Path,
    model: MultimodalModel,
    data: SplitData,
    *,
    name: str,
    run: str,
    dataset: str,
    split: int,
    hparams: dict[str, Any],
    modalities: dict[str, InputSpec],
    provenance: dict[str, Any],
    train_log: pd.DataFrame | None = None,
    device: torch.device | str = "cpu",
) -> None:
    """Write ``model.pt``, ``predictions.parquet`` and (when given) ``train_log.csv``."""
    out = Path(out_dir)
    model.eval()
    meta = run_meta(data, run=run, dataset=dataset, provenance=provenance)
    checkpoint, predictions, log_csv = (
        out / "model.pt",
        out / "predictions.parquet",
        out / "train_log.csv",
    )
    written = [checkpoint, predictions] + ([log_csv] if train_log is not None else [])
    with all_or_none(*written):
        save_checkpoint(
            checkpoint, model, name=name, hparams=hparams, modalities=modalities,
            n_out=data.n_out, task=data.task,
        )  # fmt: skip
        frame = split_predictions(model, data, split=split, device=device)
        write_predictions(predictions, frame, meta)
        if train_log is not None:
            with atomic_path(log_csv) as tmp:
                train_log.to_csv(tmp, index=False)


def fit_run(
    data: SplitData,
    *,
    run: str,
    split: int,
    cfg: dict[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
    on_epoch_end: Callable[[int, MultimodalModel, dict[str, float]], None] | None = None,
) -> tuple[MultimodalModel, FitResult, dict[str, InputSpec]]:
    """Build ``run``'s model with its catalogue builder and fit it on ``data``'s train set.

    A unimodal run trains and validates on the patients that have its modality; a
    multimodal one on every patient. ``on_epoch_end`` goes to the training loop (tuning
    prunes there). Returns the fitted model, the fit result and the modality spec the
    model takes.
    """
    model_key, modality = parse_run(run)
    modalities = run_modalities(run, data)
    torch.manual_seed(seed)
    model = get_builder(model_key)(modalities=modalities, n_out=data.n_out, task=data.task, cfg=cfg)
    require = [modality] if modality else []
    result = fit(
        model, data, cfg["train"], require=require, device=device, seed=seed,
        on_epoch_end=on_epoch_end,
    )  # fmt: skip
    log.info(
        "%s split %d: best epoch %d (%s %.4f)",
        run,
        split,
        result.best_epoch,
        result.monitor,
        result.best_score,
    )
    return model, result, modalities


def train_run(
    data: SplitData,
    *,
    run: str,
    dataset: str,
    split: int,
    cfg: dict[str, Any],
    out_dir: str | Path,
    provenance: dict[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> MultimodalModel:
    """Fit ``run``'s model (:func:`fit_run`) and write its outputs.

    ``cfg`` holds the config sections the builder reads (``train``, ``lego``, ...); it is
    stored as the checkpoint's ``hparams`` so that :func:`~mmlego.train.outputs.load_model`
    rebuilds the same model.
    """
    model, result, modalities = fit_run(
        data, run=run, split=split, cfg=cfg, device=device, seed=seed
    )
    write_run_outputs(
        out_dir, model, data, name=parse_run(run)[0], run=run, dataset=dataset, split=split,
        hparams=cfg, modalities=modalities, provenance=provenance, train_log=result.log,
        device=device,
    )  # fmt: skip
    return model
