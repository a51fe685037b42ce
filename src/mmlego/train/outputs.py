"""What a trained (or merged) model writes: ``model.pt``, and the rows of its predictions
(written by :func:`mmlego.predictions.write_predictions`).

``model.pt`` is ``{"state_dict", "model", "hparams", "modalities", "n_out", "task"}`` with only
tensors and plain Python values, so :func:`load_model` reads it with ``weights_only=True`` and
rebuilds the model through the model catalogue: ``get_builder(model)(modalities=..., n_out=...,
task=..., cfg=hparams)``.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mmlego.models.base import InputSpec, MultimodalModel, input_specs
from mmlego.models.catalogue import get_builder
from mmlego.models.losses import survival_outputs
from mmlego.utils.atomic import atomic_path

CHECKPOINT_KEYS = ("state_dict", "model", "hparams", "modalities", "n_out", "task")


def save_checkpoint(
    path: str | Path,
    model: MultimodalModel,
    *,
    name: str,
    hparams: dict[str, Any],
    modalities: Mapping[str, InputSpec],
    n_out: int,
    task: str,
) -> None:
    """Write ``model`` atomically in the contract's checkpoint layout."""
    payload = {
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "model": name,
        "hparams": json.loads(json.dumps(hparams)),
        "modalities": {m: [kind, int(dim)] for m, (kind, dim) in modalities.items()},
        "n_out": int(n_out),
        "task": task,
    }
    # Through a handle: given a path, torch names the archive's folder after the (random)
    # temporary file, so two equal models would differ byte for byte.
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict (weights only; no pickled code runs)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
        # EOFError: an empty file; UnpicklingError: objects other than weights (a code payload).
        raise ValueError(f"{path}: not a readable model checkpoint ({err}); rerun its job") from err
    missing = [k for k in CHECKPOINT_KEYS if k not in payload]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}; rerun its job")
    return payload


def build_from_checkpoint(payload: dict[str, Any]) -> MultimodalModel:
    """Rebuild the model described by a checkpoint dict and load its weights."""
    model = get_builder(payload["model"])(
        modalities=input_specs(payload["modalities"]),
        n_out=payload["n_out"],
        task=payload["task"],
        cfg=payload["hparams"],
    )
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def load_model(path: str | Path) -> MultimodalModel:
    """Rebuild and load the model saved at ``path``."""
    return build_from_checkpoint(read_checkpoint(path))


def predictions_frame(
    task: str,
    logits: torch.Tensor,
    ids: list[str],
    labels: pd.DataFrame,
    *,
    set_name: str,
    split: int,
) -> pd.DataFrame:
    """Rows of ``predictions.parquet`` for one set, from a model's logits."""
    logits = logits.detach().to(torch.float32).cpu()
    if task == "survival":
        hazards, survival, risk = survival_outputs(logits)
        return outputs_frame(
            task, ids, labels, set_name=set_name, split=split,
            risk=risk.numpy(), hazards=hazards.numpy(), survival=survival.numpy(),
        )  # fmt: skip
    probs = torch.softmax(logits, dim=1)
    return outputs_frame(task, ids, labels, set_name=set_name, split=split, probs=probs.numpy())


def outputs_frame(
    task: str,
    ids: list[str],
    labels: pd.DataFrame,
    *,
    set_name: str,
    split: int,
    risk: np.ndarray | None = None,
    hazards: np.ndarray | None = None,
    survival: np.ndarray | None = None,
    probs: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows of ``predictions.parquet`` for one set (contract: probabilities, never labels).

    Survival takes ``risk`` (n,), ``hazards`` and ``survival`` (n, bins); classification takes
    ``probs`` (n, classes). The truth columns are copied from ``labels`` for the metrics step.
    """
    truth = labels.set_index("patient_id").loc[ids]
    frame = pd.DataFrame({"patient_id": ids, "set": set_name, "split": int(split)})
    if task == "survival":
        assert risk is not None and hazards is not None and survival is not None
        frame["time"] = truth["time"].to_numpy(np.float64)
        frame["event"] = truth["event"].to_numpy(np.int64)
        frame["risk"] = np.asarray(risk, np.float64)
        for k in range(hazards.shape[1]):
            frame[f"hazard_{k}"] = np.asarray(hazards[:, k], np.float64)
        for k in range(survival.shape[1]):
            frame[f"surv_{k}"] = np.asarray(survival[:, k], np.float64)
    else:
        assert probs is not None
        frame["label"] = truth["label"].to_numpy(np.int64)
        for k in range(probs.shape[1]):
            frame[f"prob_{k}"] = np.asarray(probs[:, k], np.float64)
    return frame
