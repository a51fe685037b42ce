"""What a model needs to know about its inputs before seeing data: kind and sizes per modality."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mmlego.models.base import Batch, InputSpec, ModalityBatch


def require_kinds(
    model: str, inputs: Mapping[str, InputSpec], allowed: tuple[str, ...], count: str = "any"
) -> None:
    """Raise naming ``model`` when an input's kind is not ``allowed`` or the count is wrong."""
    bad = {name: spec.kind for name, spec in inputs.items() if spec.kind not in allowed}
    if bad:
        raise ValueError(f"{model}: modalities {bad} are not one of the kinds {allowed}")
    if count == "one" and len(inputs) != 1:
        raise ValueError(f"{model} is unimodal: got modalities {sorted(inputs)}")
    if count == "many" and len(inputs) < 2:
        raise ValueError(f"{model} fuses modalities: needs at least 2, got {sorted(inputs)}")


def zero_absent(embedding: torch.Tensor, batch: ModalityBatch) -> torch.Tensor:
    """Embedding rows (B, d) of samples without the modality set to zero (no leak of padding)."""
    return embedding * batch.present.to(embedding.dtype)[:, None]


def batch_size(batch: Batch) -> int:
    """Number of samples in a batch."""
    return next(iter(batch.values())).x.shape[0]


def baseline_params(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``baselines`` config section of a run's cfg (defaults filled by validation)."""
    if "baselines" not in cfg:
        raise KeyError(
            "the run's cfg lacks the 'baselines' config section; pass it to the train job "
            "(it holds the baselines' hyperparameters)"
        )
    return cfg["baselines"]
