"""LegoMerge properties: self-merge, order invariance, SLERP, circular mean, missing modalities."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from mmlego.models.base import ModalityBatch
from mmlego.models.lego import LegoBlock
from mmlego.models.merge import (
    LegoMerge,
    aggregate_magnitude,
    aggregate_phase,
    merge_heads,
    merge_latents,
    merged_logits,
    slerp,
    spherical_mean,
)
from tests.unit.splitdata import TINY_LEGO


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def test_circular_mean_across_the_branch_cut_is_pi():
    delta = 0.1
    phases = torch.tensor([[math.pi - delta], [-math.pi + delta]], dtype=torch.float64)
    mean = aggregate_phase(phases, mode="circular").item()
    assert abs(_wrap(mean - math.pi)) < 1e-9
    assert aggregate_phase(phases, mode="mean").item() == pytest.approx(0.0)  # the bug we avoid


def test_magnitude_weighted_phase_is_the_angle_of_the_complex_sum():
    # 3·e^{i0} and 1·e^{iπ/2}: the weighted phase is atan2(1, 3), the circular one π/4.
    mags = torch.tensor([[3.0], [1.0]], dtype=torch.float64)
    phases = torch.tensor([[0.0], [math.pi / 2]], dtype=torch.float64)
    weighted = aggregate_phase(phases, mode="weighted", magnitudes=mags).item()
    assert weighted == pytest.approx(math.atan2(1.0, 3.0))
    assert aggregate_phase(phases, mode="circular").item() == pytest.approx(math.pi / 4)
    gen = torch.Generator().manual_seed(0)
    z = torch.complex(torch.randn(3, 2, 5, generator=gen), torch.randn(3, 2, 5, generator=gen))
    present = torch.tensor([[True, True], [True, False], [False, True]])
    merged = merge_latents(z, present, phase="weighted")
    total = (z * present[..., None]).sum(0)
    assert torch.allclose(torch.angle(merged), torch.angle(total), atol=1e-5)
    with pytest.raises(ValueError, match="magnitudes"):
        aggregate_phase(phases, mode="weighted")


def test_harmonic_mean_is_at_most_arithmetic_and_exact_for_equal_values():
    gen = torch.Generator().manual_seed(0)
    mags = torch.rand(4, 50, generator=gen) * 3
    mags[0, :5] = 0.0
    harmonic = aggregate_magnitude(mags, mode="harmonic")
    arithmetic = aggregate_magnitude(mags, mode="mean")
    assert torch.all(harmonic <= arithmetic + 1e-7)
    assert torch.isfinite(harmonic).all() and torch.all(harmonic[:5] < 1e-6)
    two = torch.tensor([[2.0], [6.0]])
    assert aggregate_magnitude(two, mode="harmonic").item() == pytest.approx(2 * 2 * 6 / (2 + 6))
    same = torch.full((3, 1), 0.7)
    assert aggregate_magnitude(same, mode="harmonic").item() == pytest.approx(0.7, abs=1e-7)


def test_other_magnitude_aggregations_respect_presence():
    mags = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 100.0]])
    present = torch.tensor([[True, True], [True, True], [True, False]])
    assert aggregate_magnitude(mags, present, mode="sum").tolist() == [9.0, 6.0]
    assert aggregate_magnitude(mags, present, mode="mean").tolist() == [3.0, 3.0]
    assert aggregate_magnitude(mags, present, mode="product").tolist() == [15.0, 8.0]
    assert aggregate_magnitude(mags, present, mode="max").tolist() == [5.0, 4.0]


@pytest.mark.parametrize("seed", [0, 1])
def test_slerp_endpoints_and_unit_midpoint(seed):
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randn(7, 3, generator=gen), torch.randn(7, 3, generator=gen) * 5
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-6)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-6)
    ua, ub = a / a.norm(), b / b.norm()
    mid = slerp(ua, ub, 0.5)
    assert mid.norm().item() == pytest.approx(1.0, abs=1e-6)
    # The midpoint is equidistant in angle from both ends.
    assert (mid.flatten() @ ua.flatten()).item() == pytest.approx(
        (mid.flatten() @ ub.flatten()).item(), abs=1e-6
    )
    # Norms interpolate linearly.
    assert slerp(a, b, 0.25).norm().item() == pytest.approx(
        0.75 * a.norm().item() + 0.25 * b.norm().item(), rel=1e-5
    )


def test_slerp_parallel_and_antiparallel_are_finite():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(slerp(a, a, 0.5), a)
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-6)
    mid = slerp(a, -a, 0.5)
    assert torch.isfinite(mid).all()
    assert mid.norm().item() == pytest.approx(a.norm().item(), rel=1e-6)
    assert abs((mid @ a).item()) < 1e-5
    assert torch.allclose(slerp(a, -a, 1.0), -a, atol=1e-6)
    assert torch.allclose(slerp(a, -a, 0.5), slerp(-a, a, 0.5), atol=1e-6)


def test_spherical_mean_is_order_invariant_and_unit_for_unit_inputs():
    gen = torch.Generator().manual_seed(3)
    vectors = [v / v.norm() for v in torch.randn(4, 10, generator=gen)]
    mean = spherical_mean(vectors)
    assert mean.norm().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(spherical_mean(vectors[::-1]), mean, atol=1e-6)
    assert torch.allclose(
        spherical_mean(vectors[:2]), slerp(vectors[0], vectors[1], 0.5), atol=1e-6
    )
    # The Karcher mean's tangent vectors sum to zero.
    logs = []
    for v in vectors:
        cos = torch.clamp(v @ mean, -1, 1)
        tangent = v - cos * mean
        logs.append(tangent / tangent.norm() * torch.arccos(cos))
    assert torch.stack(logs).sum(0).norm().item() < 1e-5


def test_merge_heads_linear_is_the_mean():
    heads = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([0.0, 3.0])}]
    assert merge_heads(heads, method="linear")["w"].tolist() == [0.5, 1.5]


def _block(modality, kind, dim, seed):
    torch.manual_seed(seed)
    return LegoBlock(modality=modality, kind=kind, in_dim=dim, n_out=4, **TINY_LEGO).eval()


def _batch(b=5, seed=0, tab_present=None, img_present=None):
    gen = torch.Generator().manual_seed(seed)
    tab_present = torch.ones(b, dtype=torch.bool) if tab_present is None else tab_present
    img_present = torch.ones(b, dtype=torch.bool) if img_present is None else img_present
    mask = (torch.rand(b, 6, generator=gen) > 0.3) & img_present[:, None]
    mask[:, 0] &= img_present
    return {
        "tab": ModalityBatch(torch.randn(b, 5, generator=gen) * tab_present[:, None], tab_present),
        "img": ModalityBatch(
            torch.randn(b, 6, 4, generator=gen) * mask[..., None], img_present, mask
        ),
        "ts": ModalityBatch(
            torch.randn(b, 3, 2, generator=gen),
            torch.ones(b, dtype=torch.bool),
            torch.ones(b, 3, dtype=torch.bool),
        ),
    }


def test_merging_a_block_with_itself_gives_its_predictions():
    block = _block("tab", "vector", 5, 0)
    twin = copy.deepcopy(block)
    twin.modality = "tab2"
    twin.modalities = ("tab2",)
    merged = LegoMerge({"tab": block, "tab2": twin}).eval()
    batch = _batch()
    batch["tab2"] = batch["tab"]
    with torch.no_grad():
        assert torch.allclose(merged(batch), block(batch), atol=1e-5)
        assert torch.allclose(merged.embed(batch), block.embed(batch), atol=1e-5)


@pytest.mark.parametrize("head", ["slerp", "linear"])
def test_merge_is_invariant_to_block_order(head):
    blocks = {
        "tab": _block("tab", "vector", 5, 0),
        "img": _block("img", "bag", 4, 1),
        "ts": _block("ts", "series", 2, 2),
    }
    batch = _batch()
    forward = LegoMerge(blocks, head=head).eval()
    backward = LegoMerge(dict(reversed(list(blocks.items()))), head=head).eval()
    with torch.no_grad():
        assert torch.allclose(forward(batch), backward(batch), atol=1e-5)


def test_missing_modality_uses_the_blocks_the_patient_has():
    tab, img = _block("tab", "vector", 5, 0), _block("img", "bag", 4, 1)
    merged = LegoMerge({"tab": tab, "img": img}).eval()
    img_present = torch.tensor([True, False, True, False, True])
    tab_present = torch.tensor([True, True, False, False, True])
    batch = _batch(img_present=img_present, tab_present=tab_present)
    with torch.no_grad():
        out = merged(batch)
        full = merged(_batch())
        assert torch.isfinite(out).all()
        assert torch.allclose(out[1], tab(batch)[1], atol=1e-5)  # only tab: the tab block alone
        assert torch.allclose(out[2], img(batch)[2], atol=1e-5)  # only img: the img block alone
        assert torch.allclose(out[[0, 4]], full[[0, 4]], atol=1e-5)  # both: the full merge
        # Neither: the merge of both blocks' priors (finite, the same for any input values).
        assert torch.allclose(
            out[3],
            merged(_batch(seed=9, img_present=img_present, tab_present=tab_present))[3],
            atol=1e-5,
        )


def test_merge_latents_of_one_present_block_is_that_block():
    gen = torch.Generator().manual_seed(0)
    latents = torch.complex(
        torch.randn(3, 2, 4, generator=gen), torch.randn(3, 2, 4, generator=gen)
    )
    present = torch.tensor([[True, False], [False, False], [False, True]])
    merged = merge_latents(latents, present)
    assert torch.allclose(merged[0], latents[0, 0], atol=1e-6)
    assert torch.allclose(merged[1], latents[2, 1], atol=1e-6)


def test_incompatible_blocks_are_refused():
    a = _block("tab", "vector", 5, 0)
    torch.manual_seed(0)
    b = LegoBlock(modality="img", kind="bag", in_dim=4, n_out=4, **{**TINY_LEGO, "latent_len": 5})
    with pytest.raises(ValueError, match="latent shape"):
        LegoMerge({"tab": a, "img": b})
    with pytest.raises(ValueError, match="at least 2"):
        LegoMerge({"tab": a})


def test_every_variant_from_one_pass_of_the_blocks_equals_its_own_merge():
    blocks = {"tab": _block("tab", "vector", 5, 0), "img": _block("img", "bag", 4, 1)}
    with torch.no_grad():  # trained heads differ; untrained ones share init_seed's draw
        blocks["img"].head.linear.weight.mul_(-0.5).add_(0.3)
    batch = _batch(img_present=torch.tensor([True, False, True, True, True]))
    base = LegoMerge(blocks).eval()
    outputs = {}
    with torch.no_grad():
        latents, present = base.block_latents(batch)
        for magnitude in ("harmonic", "mean", "sum"):
            for phase in ("circular", "weighted", "mean"):
                for head in ("slerp", "linear"):
                    options = {"magnitude": magnitude, "phase": phase, "head": head, "eps": 1e-8}
                    got = merged_logits(latents, present, base.heads(), **options)
                    assert torch.allclose(got, LegoMerge(blocks, **options).eval()(batch))
                    outputs[magnitude, phase, head] = got
    distinct = {tuple(v.flatten().tolist()) for v in outputs.values()}
    assert len(distinct) == len(outputs)  # every option changes the prediction
