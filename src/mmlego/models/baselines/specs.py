"""What a model needs to know about its inputs before seeing data: kind and sizes per modality."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from mmlego.data.store import ModalityData
from mmlego.models.base import Batch, ModalityBatch


@dataclass(frozen=True)
class InputSpec:
    """One modality's input: ``kind`` vector | series | bag, feature ``dim``, series ``steps``."""

    kind: str
    dim: int
    steps: int = 0


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


def input_spec(data: ModalityData) -> InputSpec:
    """The :class:`InputSpec` of a (transformed) store modality."""
    if data.kind == "series":
        return InputSpec("series", int(data.values.shape[2]), steps=int(data.values.shape[1]))
    return InputSpec(data.kind, int(data.values.shape[1]))
