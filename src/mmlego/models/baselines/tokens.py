"""Modalities as token sets, and masked attention blocks over them (Perceiver, HEALNet, MCAT).

Every modality becomes ``tokens`` (B, N, d) with ``mask`` (B, N), True for real tokens:

- vector (B, F): one token per feature, ``x_f * w_f + b_f`` (a learned embedding per feature,
  scaled by its value), so attention can weigh single features;
- series (B, T, F): one token per time step, a linear map of the F variables plus a
  sinusoidal encoding of the step's index (so any series length works);
- bag (B, N, D): one token per instance, a linear map of its features.

A sample that lacks the modality (``present`` False) has every token masked. Attention over a
sample whose keys are all masked would be a softmax over nothing (NaN); :func:`masked_attend`
instead returns a zero update for such samples, so a missing modality leaves the query
unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mmlego.models.base import InputSpec, ModalityBatch
from mmlego.models.dropout import Dropout


def sinusoidal_positions(steps: int, dim: int) -> torch.Tensor:
    """Transformer position encoding (steps, dim): sin/cos of the index at geometric frequencies."""
    index = torch.arange(steps, dtype=torch.float32)[:, None]
    freq = torch.exp(-torch.arange(0, dim, 2, dtype=torch.float32) * (math.log(10000.0) / dim))
    table = torch.zeros(steps, dim)
    table[:, 0::2] = torch.sin(index * freq)
    table[:, 1::2] = torch.cos(index * freq[: dim // 2])
    return table


class Tokeniser(nn.Module):
    """Map one modality's batch to ``(tokens (B, N, d), mask (B, N))``."""

    def __init__(self, spec: InputSpec, dim: int) -> None:
        super().__init__()
        self.kind = spec.kind
        if spec.kind == "vector":
            self.weight = nn.Parameter(torch.randn(spec.dim, dim) / dim**0.5)
            self.bias = nn.Parameter(torch.zeros(spec.dim, dim))
        elif spec.kind in ("series", "bag"):
            self.proj = nn.Linear(spec.dim, dim)
        else:
            raise ValueError(f"unknown modality kind {spec.kind!r}; expected vector, series or bag")

    def forward(self, batch: ModalityBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, N, d) and their mask (B, N)."""
        present = batch.present.bool()
        if self.kind == "vector":
            tokens = batch.x.unsqueeze(-1) * self.weight + self.bias
            mask = present[:, None].expand(-1, tokens.shape[1])
        else:
            tokens = self.proj(batch.x)
            if self.kind == "series":
                tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2]).to(tokens)
            mask = batch.mask.bool() & present[:, None]
        return tokens, mask


def masked_attend(
    attention: nn.MultiheadAttention,
    query: torch.Tensor,
    keys: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Attention of ``query`` (B, L, d) over ``keys`` (B, N, d) where ``mask`` (B, N) is True.

    Each sample attends only to its own keys (no mixing across the batch); a sample with no
    valid key gets a zero output instead of NaN.
    """
    empty = ~mask.any(dim=1)
    ignore = ~mask
    if empty.any():
        ignore = ignore.clone()
        ignore[empty, 0] = False
    out, _ = attention(query, keys, keys, key_padding_mask=ignore, need_weights=False)
    return out * (~empty).to(out.dtype)[:, None, None]


class FeedForward(nn.Module):
    """Pre-norm two-layer MLP with GELU (the Perceiver's feed-forward)."""

    def __init__(self, dim: int, mult: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, dim * mult),
            nn.GELU(),
            Dropout(dropout),
            nn.Linear(dim * mult, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual update ``x + MLP(x)``."""
        return x + self.net(x)


class CrossAttentionBlock(nn.Module):
    """Latents (B, L, d) attend to masked tokens (B, N, d); residual, then a feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = FeedForward(dim, dropout=dropout)

    def forward(
        self, latents: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Updated latents; a sample without any valid token keeps its latents unchanged."""
        update = masked_attend(self.attention, self.norm_q(latents), self.norm_kv(tokens), mask)
        return torch.where(mask.any(dim=1)[:, None, None], self.ff(latents + update), latents)


class SelfAttentionBlock(nn.Module):
    """Pre-norm self-attention among tokens (B, N, d), then a feed-forward.

    With a ``mask`` (B, N) tokens attend only to valid tokens; without one, all are valid.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = FeedForward(dim, dropout=dropout)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Updated tokens."""
        x = self.norm(tokens)
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return self.ff(tokens + masked_attend(self.attention, x, x, mask))


class LatentHead(nn.Module):
    """Mean over latents -> LayerNorm -> Linear to the task's logits."""

    def __init__(self, dim: int, n_out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, n_out)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_out) from latents (B, L, d)."""
        return self.linear(self.norm(latents.mean(dim=1)))
