"""HEALNet: hybrid early fusion through a shared latent (Hemker et al. 2024).

One latent array is shared by all modalities. Each layer updates it by a cross-attention to
every modality in turn, each modality with its own attention weights (so each keeps its own
structure, unlike early fusion's single token set), then by latent self-attention. A sample
that lacks a modality skips that modality's update.

``weight_sharing``: ``none`` gives every layer its own weights; ``layers`` ties the weights of
layers 2..depth (the first layer keeps its own, as in the Perceiver), which keeps the parameter
count flat in depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmlego.models.base import Batch, InputSpec, MultimodalModel
from mmlego.models.baselines.specs import baseline_params, require_kinds
from mmlego.models.baselines.tokens import (
    CrossAttentionBlock,
    LatentHead,
    SelfAttentionBlock,
    Tokeniser,
)

WEIGHT_SHARING = ("none", "layers")


class HealNet(MultimodalModel):
    """Shared latent (L, d); per layer: cross-attention to each modality, then self-attention."""

    def __init__(
        self,
        inputs: Mapping[str, InputSpec],
        n_out: int,
        *,
        dim: int,
        latents: int,
        depth: int,
        heads: int,
        dropout: float,
        weight_sharing: str,
    ) -> None:
        """``weight_sharing``: ``none`` or ``layers`` (layers after the first share weights)."""
        super().__init__()
        if weight_sharing not in WEIGHT_SHARING:
            raise ValueError(f"healnet weight_sharing must be one of {WEIGHT_SHARING}")
        self.modalities = tuple(inputs)
        self.tokenisers = nn.ModuleDict({m: Tokeniser(s, dim) for m, s in inputs.items()})
        self.latents = nn.Parameter(torch.randn(latents, dim) * 0.02)
        distinct = depth if weight_sharing == "none" else min(depth, 2)
        self.cross = nn.ModuleList(
            nn.ModuleDict({m: CrossAttentionBlock(dim, heads, dropout) for m in inputs})
            for _ in range(distinct)
        )
        self.self_attn = nn.ModuleList(
            SelfAttentionBlock(dim, heads, dropout) for _ in range(distinct)
        )
        # Layer i uses weight set order[i]: 0, 1, 1, ... when shared.
        self.order = [min(i, distinct - 1) for i in range(depth)]
        self.head = LatentHead(dim, n_out)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, n_out)."""
        tokens = {m: self.tokenisers[m](batch[m]) for m in self.modalities}
        size = next(iter(tokens.values()))[0].shape[0]
        latents = self.latents.expand(size, -1, -1)
        for i in self.order:
            for name in self.modalities:
                latents = self.cross[i][name](latents, *tokens[name])
            latents = self.self_attn[i](latents)
        return self.head(latents)


def build_healnet(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> HealNet:
    """HEALNet over two or more modalities of any kind."""
    require_kinds("healnet", modalities, ("vector", "series", "bag"), count="many")
    params = baseline_params(cfg)
    return HealNet(
        modalities,
        n_out,
        dim=params["dim"],
        latents=params["healnet"]["latents"],
        depth=params["healnet"]["depth"],
        heads=params["heads"],
        dropout=params["dropout"],
        weight_sharing=params["healnet"]["weight_sharing"],
    )
