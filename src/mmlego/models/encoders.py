"""Modality encoders shared by LegoBlocks and the baselines.

- :class:`SNN`: self-normalising network for tabular vectors (Klambauer et al. 2017): Linear →
  SELU → AlphaDropout blocks with LeCun-normal initialisation, so activations keep zero mean
  and unit variance without normalisation layers.
- :class:`GatedAttentionMIL`: gated-attention multiple-instance pooling (Ilse et al. 2018) for
  bags of patches and for time series (time steps are the instances). The softmax runs over
  each sample's own instances, padded instances get exactly zero weight, and a sample's output
  never depends on the other samples of the batch (the released code took the softmax over the
  batch).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from mmlego.models.dropout import AlphaDropout, Dropout


def lecun_normal_(linear: nn.Linear) -> None:
    """LeCun-normal weights (std = 1/sqrt(fan_in)) and zero bias, as SELU networks require."""
    nn.init.normal_(linear.weight, mean=0.0, std=1.0 / math.sqrt(linear.in_features))
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


class SNN(nn.Module):
    """Self-normalising MLP: ``n_layers`` × (Linear → SELU → AlphaDropout).

    Args:
        in_dim: input features F.
        out_dim: output features (the last block's width).
        hidden: width of the hidden blocks.
        n_layers: number of Linear → SELU → AlphaDropout blocks (>= 1).
        dropout: AlphaDropout rate (keeps the self-normalising statistics, unlike Dropout).

    Shapes: ``(B, F) -> (B, out_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden: int = 256,
        n_layers: int = 2,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"SNN needs n_layers >= 1, got {n_layers}")
        widths = [in_dim] + [hidden] * (n_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            linear = nn.Linear(a, b)
            lecun_normal_(linear)
            layers += [linear, nn.SELU(), AlphaDropout(dropout)]
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` where ``mask`` False entries get exactly zero weight.

    A row with no valid entry returns all zeros (not NaN), so an absent modality contributes
    nothing. A large finite negative fill (not -inf) keeps the backward pass NaN-free.
    """
    if mask is None:
        return torch.softmax(scores, dim=dim)
    fill = torch.finfo(scores.dtype).min
    weights = torch.softmax(scores.masked_fill(~mask, fill), dim=dim)
    return weights * mask.to(weights.dtype)


class GatedAttentionMIL(nn.Module):
    """Gated attention pooling over each sample's instances (bags or time steps).

    h_i = ReLU(W x_i); a_i = w^T (tanh(V h_i) ⊙ sigmoid(U h_i)); α = softmax_i(a) over the
    sample's valid instances; output = Σ_i α_i h_i.

    Args:
        in_dim: instance features D.
        out_dim: embedding size of the instances and of the pooled output.
        attn_dim: hidden size of the gated attention.
        dropout: dropout on the instance embeddings.

    Shapes: ``x (B, N, D)``, ``mask (B, N)`` (True = real instance) ``-> (B, out_dim)``; with
    ``return_instances=True`` also the instance embeddings ``(B, N, out_dim)`` and the attention
    ``(B, N)``.
    """

    def __init__(
        self, in_dim: int, out_dim: int, *, attn_dim: int = 128, dropout: float = 0.25
    ) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), Dropout(dropout))
        self.attn_v = nn.Linear(out_dim, attn_dim)
        self.attn_u = nn.Linear(out_dim, attn_dim)
        self.attn_w = nn.Linear(attn_dim, 1)
        self.out_dim = out_dim

    def attention(self, h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Attention weights (B, N) over each sample's valid instances."""
        gated = torch.tanh(self.attn_v(h)) * torch.sigmoid(self.attn_u(h))
        return masked_softmax(self.attn_w(gated).squeeze(-1), mask, dim=-1)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, *, return_instances: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.embed(x)
        if mask is not None:
            # Padding rows are zeroed so that they cannot leak into any downstream use of h.
            h = h * mask.unsqueeze(-1).to(h.dtype)
        weights = self.attention(h, mask)
        pooled = torch.einsum("bn,bnd->bd", weights, h)
        if return_instances:
            return pooled, h, weights
        return pooled
