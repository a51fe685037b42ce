"""SNN and gated-attention MIL: initialisation, masking and per-sample independence."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmlego.models.dropout import AlphaDropout
from mmlego.models.encoders import SNN, GatedAttentionMIL, masked_softmax


def test_snn_uses_selu_alpha_dropout_and_lecun_init():
    torch.manual_seed(0)
    snn = SNN(400, 8, hidden=300, n_layers=2, dropout=0.1)
    kinds = [type(m) for m in snn.net]
    assert kinds == [nn.Linear, nn.SELU, AlphaDropout] * 2
    first = snn.net[0]
    # LeCun normal: std 1/sqrt(fan_in) = 0.05 for 400 inputs; zero bias.
    assert first.weight.std().item() == pytest.approx(1 / math.sqrt(400), rel=0.05)
    assert torch.all(first.bias == 0)
    # Self-normalising: unit-variance inputs keep roughly unit variance through the blocks.
    snn.eval()
    out = snn.net[:3](torch.randn(4096, 400))
    assert out.mean().item() == pytest.approx(0.0, abs=0.1)
    assert out.std().item() == pytest.approx(1.0, abs=0.15)
    assert snn(torch.randn(5, 400)).shape == (5, 8)


def test_masked_softmax_gives_padding_exactly_zero_and_empty_rows_zero():
    scores = torch.tensor([[1.0, 2.0, 50.0], [0.5, 0.1, 3.0]], requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    weights = masked_softmax(scores, mask)
    assert weights[0, 2].item() == 0.0
    assert weights[0, :2].sum().item() == pytest.approx(1.0)
    expected = torch.softmax(torch.tensor([1.0, 2.0]), 0)
    assert torch.allclose(weights[0, :2], expected)
    assert torch.all(weights[1] == 0)
    weights.sum().backward()
    assert torch.isfinite(scores.grad).all()


def _bag_batch(seed: int, sizes: list[int], dim: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    n_max = max(sizes)
    x = torch.randn(len(sizes), n_max, dim, generator=gen)
    mask = torch.arange(n_max)[None, :] < torch.tensor(sizes)[:, None]
    return x * mask[..., None], mask


def test_abmil_padding_gets_zero_attention_and_does_not_change_output():
    torch.manual_seed(0)
    mil = GatedAttentionMIL(6, 4, attn_dim=5).eval()
    x, mask = _bag_batch(1, [3, 5])
    pooled, _, weights = mil(x, mask, return_instances=True)
    assert torch.all(weights[0, 3:] == 0)
    assert torch.allclose(weights.sum(1), torch.ones(2))
    # Garbage in the padding (the released code's stale buffer) must not change anything.
    dirty = x.clone()
    dirty[0, 3:] = 1e3
    assert torch.allclose(mil(dirty, mask), pooled, atol=1e-6)
    # Padding a bag further changes nothing either.
    alone = mil(x[:1, :3], mask[:1, :3])
    assert torch.allclose(alone, pooled[:1], atol=1e-6)


def test_abmil_sample_output_independent_of_other_samples():
    torch.manual_seed(0)
    mil = GatedAttentionMIL(6, 4, attn_dim=5).eval()
    x, mask = _bag_batch(2, [4, 2, 5, 1])
    out = mil(x, mask)
    perm = torch.tensor([2, 0, 3, 1])
    assert torch.allclose(mil(x[perm], mask[perm]), out[perm], atol=1e-6)
    other, other_mask = _bag_batch(3, [5, 5, 5, 5])
    mixed = other.clone()
    mixed_mask = other_mask.clone()
    mixed[1], mixed_mask[1] = x[0], mask[0]
    assert torch.allclose(mil(mixed, mixed_mask)[1], out[0], atol=1e-6)


def test_abmil_empty_sample_is_zero_not_nan():
    mil = GatedAttentionMIL(6, 4).eval()
    x, mask = _bag_batch(4, [3, 0])
    out = mil(x, mask)
    assert torch.isfinite(out).all()
    assert torch.all(out[1] == 0)
