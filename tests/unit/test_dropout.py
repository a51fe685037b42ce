"""Dropout and alpha dropout with the PCG64 mask: rate, scale, gradient, seeding, statistics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmlego.models.dropout import (
    LEVELS,
    MIN_ELEMENTS,
    AlphaDropout,
    Dropout,
    drop_threshold,
    keep_mask,
)

N = 1_000_000


def binomial_bound(p: float, n: int, sigmas: float = 6.0) -> float:
    return sigmas * math.sqrt(p * (1 - p) / n)


# torch's alpha-dropout constants (aten Dropout.cpp), computed here, not taken from the module.
SELU_ALPHA = 1.7580993408473766


def alpha_scale(rate: float) -> float:
    """a = ((α²p + 1)(1 − p))^(-1/2)."""
    return ((SELU_ALPHA * SELU_ALPHA * rate + 1) * (1 - rate)) ** -0.5


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5])
def test_drops_the_rounded_rate_and_scales_kept_values_by_the_exact_keep_rate(p):
    torch.manual_seed(0)
    out = Dropout(p).train()(torch.ones(N))
    rate = drop_threshold(p) / LEVELS
    assert abs(rate - p) <= 0.5 / LEVELS
    dropped = (out == 0).double().mean().item()
    assert abs(dropped - rate) < binomial_bound(rate, N)
    kept = out[out != 0]
    assert torch.all(kept == kept[0])
    assert kept[0].item() == pytest.approx(1 / (1 - rate), rel=1e-6)


def test_the_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(1)
    x = torch.ones(MIN_ELEMENTS, requires_grad=True)
    out = Dropout(0.3).train()(x)
    grad = torch.randn(MIN_ELEMENTS)
    out.backward(grad)
    assert torch.equal(x.grad, grad * out.detach())


def test_torch_manual_seed_fixes_every_mask_and_calls_differ():
    d = Dropout(0.2).train()
    x = torch.ones(MIN_ELEMENTS)
    torch.manual_seed(7)
    first, second = d(x), d(x)
    torch.manual_seed(7)
    assert torch.equal(d(x), first)
    assert torch.equal(d(x), second)
    assert not torch.equal(first, second)
    torch.manual_seed(8)
    assert not torch.equal(d(x), first)


def test_elements_drawn_from_one_64_bit_word_are_independent():
    # Four 16-bit draws share one PCG64 output; neighbours must still be dropped independently.
    torch.manual_seed(2)
    keep = keep_mask(torch.Size([N]), drop_threshold(0.5)).view(-1, 4).double()
    for i in range(4):
        for j in range(i + 1, 4):
            both = (keep[:, i] * keep[:, j]).mean().item()
            assert abs(both - 0.25) < binomial_bound(0.25, len(keep))


def test_eval_mode_p_zero_and_p_one():
    x = torch.randn(64, 8)
    assert Dropout(0.5).eval()(x) is x
    assert Dropout(0.0).train()(x) is x
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    assert AlphaDropout(0.5).eval()(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drop_threshold(1.5)


def test_alpha_dropout_keeps_zero_mean_and_unit_variance_and_follows_torchs_map():
    p = 0.25
    torch.manual_seed(3)
    x = torch.randn(4 * N)
    out = AlphaDropout(p).train()(x)
    assert abs(out.mean().item()) < 0.005
    assert out.std().item() == pytest.approx(1.0, abs=0.005)
    assert out.mean().item() == pytest.approx(F.alpha_dropout(x, p, True).mean().item(), abs=0.01)
    # torch's affine map (aten Dropout.cpp) at the rounded rate: kept a·x + αap, dropped
    # −αa + αap, with α = 1.7580993408473766 and a = ((α²p + 1)(1 − p))^(-1/2).
    rate = drop_threshold(p) / LEVELS
    alpha, a = SELU_ALPHA, alpha_scale(rate)
    dropped_value = -alpha * a + alpha * a * rate
    dropped = torch.isclose(out, torch.tensor(dropped_value), atol=1e-6, rtol=0)
    assert abs(dropped.double().mean().item() - rate) < binomial_bound(rate, 4 * N)
    kept = ~dropped
    assert torch.allclose(out[kept], a * x[kept] + alpha * a * rate, atol=1e-5)


def test_an_alpha_dropped_input_has_zero_gradient():
    torch.manual_seed(4)
    x = torch.randn(MIN_ELEMENTS, requires_grad=True)
    d = AlphaDropout(0.5).train()
    torch.manual_seed(5)
    out = d(x)
    out.sum().backward()
    torch.manual_seed(5)
    keep = keep_mask(x.shape, drop_threshold(0.5))
    a = alpha_scale(drop_threshold(0.5) / LEVELS)
    assert torch.allclose(x.grad, keep.float() * a)


def test_a_small_tensor_is_dropped_by_torch_and_a_large_one_by_the_pcg64_mask():
    for size in (MIN_ELEMENTS - 1, MIN_ELEMENTS):
        x = torch.ones(size)
        torch.manual_seed(9)
        ours = Dropout(0.5).train()(x)
        torch.manual_seed(9)
        torchs = F.dropout(x, 0.5, True)
        torch.manual_seed(9)
        mask = keep_mask(x.shape, drop_threshold(0.5))
        if size < MIN_ELEMENTS:
            assert torch.equal(ours, torchs)
        else:
            assert torch.equal(ours != 0, mask)
            assert not torch.equal(ours, torchs)
