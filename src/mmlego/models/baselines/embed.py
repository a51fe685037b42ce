"""One embedding per sample and modality, from the shared encoders (SNN for vectors, ABMIL for
series and bags): the building block of SNN/ABMIL, late fusion, MultiModN and MCAT."""

from __future__ import annotations

import torch
from torch import nn

from mmlego.models.base import InputSpec, ModalityBatch
from mmlego.models.baselines.specs import zero_absent
from mmlego.models.encoders import SNN, GatedAttentionMIL


class ModalityEncoder(nn.Module):
    """``ModalityBatch`` -> (B, dim); samples without the modality get a zero embedding."""

    def __init__(self, spec: InputSpec, dim: int, dropout: float) -> None:
        super().__init__()
        self.kind = spec.kind
        if spec.kind == "vector":
            self.encoder = SNN(spec.dim, dim, dropout=dropout)
        elif spec.kind in ("series", "bag"):
            self.encoder = GatedAttentionMIL(spec.dim, dim, dropout=dropout)
        else:
            raise ValueError(f"unknown modality kind {spec.kind!r}; expected vector, series or bag")

    def forward(self, batch: ModalityBatch) -> torch.Tensor:
        """Embeddings (B, dim)."""
        if self.kind == "vector":
            embedding = self.encoder(batch.x)
        else:
            embedding = self.encoder(batch.x, batch.mask.bool() & batch.present.bool()[:, None])
        return zero_absent(embedding, batch)
