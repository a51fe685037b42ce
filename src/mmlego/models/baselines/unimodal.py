"""Unimodal encoder baselines: ``snn`` on a tabular modality, ``abmil`` on a bag or time series.

Both are the shared encoder (:mod:`mmlego.models.encoders`) followed by a linear head; a run
is ``snn.<modality>`` or ``abmil.<modality>``. ABMIL's attention softmax runs over the
instances of each sample (never over the batch), with padding masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, MultimodalModel
from mmlego.models.baselines.embed import ModalityEncoder
from mmlego.models.baselines.specs import baseline_params, require_kinds


class EncoderHead(MultimodalModel):
    """One modality -> shared encoder -> linear head."""

    def __init__(
        self, inputs: Mapping[str, InputSpec], n_out: int, *, dim: int, dropout: float
    ) -> None:
        super().__init__()
        (self.modality, spec), *_ = inputs.items()
        self.modalities = (self.modality,)
        self.encoder = ModalityEncoder(spec, dim, dropout)
        self.head = nn.Linear(dim, n_out)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, n_out)."""
        return self.head(self.encoder(batch[self.modality]))


def _encoder_head(
    model: str,
    kinds: tuple[str, ...],
    inputs: Mapping[str, InputSpec],
    n_out: int,
    config: Mapping[str, Any],
) -> EncoderHead:
    require_kinds(model, inputs, kinds, count="one")
    params = baseline_params(config)
    return EncoderHead(inputs, n_out, dim=params["dim"], dropout=params["dropout"])


def build_snn(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> EncoderHead:
    """Self-normalising network on one tabular (vector) modality."""
    return _encoder_head("snn", ("vector",), modalities, n_out, cfg)


def build_abmil(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> EncoderHead:
    """Gated-attention MIL on one bag or time-series modality."""
    return _encoder_head("abmil", ("series", "bag"), modalities, n_out, cfg)
