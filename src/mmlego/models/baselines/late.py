"""Late fusion of per-modality embeddings (SNN for tabular, ABMIL for bags and series).

- ``late_concat``: the embeddings are concatenated and a small MLP predicts.
- ``late_bilinear``: gated bilinear fusion (as in Pathomic Fusion / PORPOISE). Each embedding
  is reduced to ``k`` features and gated by a sigmoid of all embeddings, augmented with a
  constant 1, and the outer product of the augmented vectors is flattened: it holds every
  product of features across modalities (the interactions), and through the 1s every single
  modality's features and a constant too. With N modalities the product has (k + 1)^N
  entries. A missing modality contributes [0, …, 0, 1], so the product reduces to the terms of
  the modalities that are present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, MultimodalModel
from mmlego.models.baselines.embed import ModalityEncoder
from mmlego.models.baselines.specs import baseline_params, require_kinds
from mmlego.models.dropout import Dropout

KINDS = ("vector", "series", "bag")
MAX_BILINEAR_FEATURES = 2**20


def _mlp_head(size: int, dim: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(size, dim), nn.ReLU(), Dropout(dropout), nn.Linear(dim, n_out))


class LateFusion(MultimodalModel):
    """Shared pieces: one encoder per modality and their embeddings (B, M, dim)."""

    def __init__(self, inputs: Mapping[str, InputSpec], dim: int, dropout: float) -> None:
        super().__init__()
        self.modalities = tuple(inputs)
        self.encoders = nn.ModuleDict(
            {m: ModalityEncoder(s, dim, dropout) for m, s in inputs.items()}
        )

    def embeddings(self, batch: Batch) -> list[torch.Tensor]:
        """Per-modality embeddings (B, dim), zero for missing modalities."""
        return [self.encoders[m](batch[m]) for m in self.modalities]


class LateConcat(LateFusion):
    """Concatenated embeddings -> MLP."""

    def __init__(
        self, inputs: Mapping[str, InputSpec], n_out: int, *, dim: int, dropout: float
    ) -> None:
        super().__init__(inputs, dim, dropout)
        self.head = _mlp_head(dim * len(inputs), dim, n_out, dropout)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, n_out)."""
        return self.head(torch.cat(self.embeddings(batch), dim=1))


def outer_product(vectors: list[torch.Tensor]) -> torch.Tensor:
    """Flattened outer product of (B, k_m) vectors: (B, prod k_m)."""
    product = vectors[0]
    for vector in vectors[1:]:
        product = (product[:, :, None] * vector[:, None, :]).flatten(1)
    return product


class LateBilinear(LateFusion):
    """Gated embeddings, each augmented by 1 -> flattened outer product -> MLP."""

    def __init__(
        self,
        inputs: Mapping[str, InputSpec],
        n_out: int,
        *,
        dim: int,
        bilinear_dim: int,
        dropout: float,
    ) -> None:
        super().__init__(inputs, dim, dropout)
        fused = (bilinear_dim + 1) ** len(inputs)
        if fused > MAX_BILINEAR_FEATURES:
            raise ValueError(
                f"late_bilinear: ({bilinear_dim} + 1)^{len(inputs)} = {fused} fused features is too "
                f"many; lower config key 'baselines.late.bilinear_dim'"
            )
        self.reduce = nn.ModuleDict({m: nn.Linear(dim, bilinear_dim) for m in inputs})
        self.gate = nn.ModuleDict({m: nn.Linear(dim * len(inputs), bilinear_dim) for m in inputs})
        self.head = _mlp_head(fused, dim, n_out, dropout)

    def fused(self, batch: Batch) -> torch.Tensor:
        """The flattened outer product of the gated, 1-augmented embeddings (B, (k + 1)^M)."""
        embeddings = self.embeddings(batch)
        joint = torch.cat(embeddings, dim=1)
        augmented = []
        for name, embedding in zip(self.modalities, embeddings, strict=True):
            gated = torch.sigmoid(self.gate[name](joint)) * torch.relu(self.reduce[name](embedding))
            gated = gated * batch[name].present.to(gated.dtype)[:, None]
            augmented.append(torch.cat([gated, torch.ones_like(gated[:, :1])], dim=1))
        return outer_product(augmented)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, n_out)."""
        return self.head(self.fused(batch))


def build_late_concat(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> LateConcat:
    """Late fusion by concatenation, any number (>= 2) of modalities."""
    require_kinds("late_concat", modalities, KINDS, count="many")
    params = baseline_params(cfg)
    return LateConcat(modalities, n_out, dim=params["dim"], dropout=params["dropout"])


def build_late_bilinear(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> LateBilinear:
    """Late fusion by gated bilinear (outer-product) fusion, any number (>= 2) of modalities."""
    require_kinds("late_bilinear", modalities, KINDS, count="many")
    params = baseline_params(cfg)
    return LateBilinear(
        modalities,
        n_out,
        dim=params["dim"],
        bilinear_dim=params["late"]["bilinear_dim"],
        dropout=params["dropout"],
    )
