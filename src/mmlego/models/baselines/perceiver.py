"""Perceiver: a learned latent array reads the input tokens by cross-attention, then thinks by
latent self-attention (Jaegle et al. 2021).

- ``perceiver``: one modality (a ``perceiver.<modality>`` run; vector, series or bag).
- ``perceiver_early``: early fusion; the tokens of every modality are concatenated into one
  set, each tagged with a learned embedding of its modality, and the latents read them all.
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

KINDS = ("vector", "series", "bag")


class Perceiver(MultimodalModel):
    """Latents (L, d) x ``depth`` of [cross-attention to all tokens, latent self-attention]."""

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
    ) -> None:
        """``inputs``: the modalities to read; with more than one, tokens get a modality embedding."""
        super().__init__()
        self.modalities = tuple(inputs)
        self.tokenisers = nn.ModuleDict({m: Tokeniser(s, dim) for m, s in inputs.items()})
        self.modality_embedding = (
            nn.ParameterDict({m: nn.Parameter(torch.randn(dim) * 0.02) for m in inputs})
            if len(inputs) > 1
            else None
        )
        self.latents = nn.Parameter(torch.randn(latents, dim) * 0.02)
        self.cross = nn.ModuleList(CrossAttentionBlock(dim, heads, dropout) for _ in range(depth))
        self.self_attn = nn.ModuleList(
            SelfAttentionBlock(dim, heads, dropout) for _ in range(depth)
        )
        self.head = LatentHead(dim, n_out)

    def tokens(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """All modalities' tokens (B, sum N_m, d) and mask, modality embeddings added."""
        parts, masks = [], []
        for name in self.modalities:
            tokens, mask = self.tokenisers[name](batch[name])
            if self.modality_embedding is not None:
                tokens = tokens + self.modality_embedding[name]
            parts.append(tokens)
            masks.append(mask)
        return torch.cat(parts, dim=1), torch.cat(masks, dim=1)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits (B, n_out)."""
        tokens, mask = self.tokens(batch)
        latents = self.latents.expand(tokens.shape[0], -1, -1)
        for cross, think in zip(self.cross, self.self_attn, strict=True):
            latents = think(cross(latents, tokens, mask))
        return self.head(latents)


def _perceiver(inputs: Mapping[str, InputSpec], n_out: int, config: Mapping[str, Any]) -> Perceiver:
    params = baseline_params(config)
    return Perceiver(
        inputs,
        n_out,
        dim=params["dim"],
        latents=params["perceiver"]["latents"],
        depth=params["perceiver"]["depth"],
        heads=params["heads"],
        dropout=params["dropout"],
    )


def build_perceiver(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> Perceiver:
    """Unimodal Perceiver on any one modality."""
    require_kinds("perceiver", modalities, KINDS, count="one")
    return _perceiver(modalities, n_out, cfg)


def build_perceiver_early(
    *, modalities: Mapping[str, InputSpec], n_out: int, task: str, cfg: Mapping[str, Any]
) -> Perceiver:
    """Early-fusion Perceiver over the concatenated tokens of two or more modalities."""
    require_kinds("perceiver_early", modalities, KINDS, count="many")
    return _perceiver(modalities, n_out, cfg)
