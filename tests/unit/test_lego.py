"""LegoBlock: frequency-domain steps, masks, embeddings and encoder choices."""

from __future__ import annotations

import pytest
import torch

from mmlego.models.base import ModalityBatch
from mmlego.models.lego import LegoBlock
from tests.unit.splitdata import TINY_LEGO


def _bag(b=3, n=5, d=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([n, 2, 3][:b])
    mask = torch.arange(n)[None] < sizes[:, None]
    x = torch.randn(b, n, d, generator=gen) * mask[..., None]
    return ModalityBatch(x=x, present=torch.ones(b, dtype=torch.bool), mask=mask)


def _block(kind="bag", in_dim=4, **opts):
    torch.manual_seed(0)
    return LegoBlock(
        modality="m", kind=kind, in_dim=in_dim, n_out=3, **{**TINY_LEGO, **opts}
    ).eval()


@pytest.mark.parametrize("fft", ["1d", "2d"])
@pytest.mark.parametrize("norm", ["ortho", "backward", "forward"])
def test_fft_ifft_round_trip_is_identity_without_update(fft, norm):
    block = _block(fft=fft, fft_norm=norm)
    z = torch.randn(2, 4, 8)
    assert torch.allclose(block.to_spatial(block.to_frequency(z)), z, atol=1e-5)


def test_fft_axes_follow_the_option():
    z = torch.randn(1, 4, 8)
    two_d = _block(fft="2d").to_frequency(z)
    one_d = _block(fft="1d").to_frequency(z)
    assert torch.allclose(two_d, torch.fft.fft2(z, norm="ortho"))
    assert torch.allclose(one_d, torch.fft.fft(z, dim=-2, norm="ortho"))


def test_l2_normalise_is_over_the_latent_axis():
    block = _block(fft="1d", l2_normalise=True)
    z = torch.randn(1, 4, 8)
    spatial = block.to_spatial(block.to_frequency(z))
    assert torch.allclose(spatial.norm(dim=-2), torch.ones(1, 8), atol=1e-5)


def test_embed_is_the_current_frequency_latent_and_the_head_reads_it():
    block = _block()
    batch = {"m": _bag()}
    freq = block.embed(batch)
    assert freq.is_complex() and freq.shape == (3, 4, 8)
    # Recompute by hand: the imaginary part must be that of the last step's FFT input.
    context, mask = block.encoder(batch["m"])
    z = block.start_latent(3)
    first = block.step(0, z, context, mask)
    last_input = block.to_frequency(block.to_spatial(first))
    assert torch.allclose(freq.imag, last_input.imag, atol=1e-6)
    assert torch.allclose(freq.real, block.steps[1](last_input.real, context, mask), atol=1e-5)
    assert torch.allclose(block(batch), block.head(freq))
    assert block(batch).shape == (3, 3)


def test_imaginary_part_is_carried_through_the_steps():
    # Steps update only the real part, and the real iFFT keeps the odd (imaginary) part of a
    # spectrum: the final imaginary part is that of FFT(latent) (documented in lego.py).
    block = _block()
    freq = block.embed({"m": _bag()})
    start = block.to_frequency(block.start_latent(3))
    assert torch.allclose(freq.imag, start.imag, atol=1e-6)


def test_padding_content_and_other_samples_do_not_change_a_sample():
    block = _block()
    bag = _bag()
    out = block({"m": bag})
    dirty = bag.x.clone()
    dirty[~bag.mask] = 1e4
    assert torch.allclose(block({"m": ModalityBatch(dirty, bag.present, bag.mask)}), out, atol=1e-5)
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(block({"m": bag.select(perm)}), out[perm], atol=1e-5)


def test_absent_sample_predicts_from_the_latent_alone():
    block = _block(kind="vector", in_dim=5)
    x = torch.randn(2, 5)
    present = torch.tensor([True, False])
    out = block({"m": ModalityBatch(x, present)})
    other = block({"m": ModalityBatch(torch.randn(2, 5) * 100, present)})
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1], other[1], atol=1e-5)


@pytest.mark.parametrize(
    ("kind", "encoder", "shape"),
    [
        ("vector", "auto", (3, 5)),
        ("vector", "none", (3, 5)),
        ("series", "auto", (3, 6, 5)),
        ("bag", "none", (3, 6, 5)),
    ],
)
def test_encoders_per_kind(kind, encoder, shape):
    block = _block(kind=kind, in_dim=5, encoder=encoder)
    mask = torch.ones(shape[:2], dtype=torch.bool) if len(shape) == 3 else None
    out = block({"m": ModalityBatch(torch.randn(shape), torch.ones(3, dtype=torch.bool), mask)})
    assert out.shape == (3, 3) and torch.isfinite(out).all()


def test_bad_options_raise_naming_them():
    with pytest.raises(ValueError, match="latent_size"):
        LegoBlock(modality="m", kind="bag", in_dim=4, n_out=2, latent_size=3)
    with pytest.raises(ValueError, match="SNN"):
        LegoBlock(modality="m", kind="bag", in_dim=4, n_out=2, encoder="snn")


def test_extra_padding_changes_nothing_and_padded_keys_get_zero_weight():
    block = _block(encoder="none")
    bag = _bag()
    out = block({"m": bag})
    pad = torch.zeros(3, 4, 4)
    longer = ModalityBatch(
        torch.cat([bag.x, pad + 7.0], dim=1),
        bag.present,
        torch.cat([bag.mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1),
    )
    assert torch.allclose(block({"m": longer}), out, atol=1e-5)
    attn = block.steps[0].attn
    q = torch.randn(3, 4, 8)
    context = torch.randn(3, 5, 4)
    full = attn(q, context, bag.mask)
    alone = attn(q[1:2], context[1:2, :2], None)  # sample 1 has 2 real instances
    assert torch.allclose(full[1:2], alone, atol=1e-5)


def _merged_parts(block: LegoBlock) -> dict[str, torch.Tensor]:
    """The parameters LegoMerge combines or that sit between them: latent, steps, head."""
    return {
        name: param.detach().clone()
        for name, param in block.named_parameters()
        if not name.startswith("encoder.")
    }


@pytest.mark.parametrize("init_seed", [0, 7])
def test_blocks_of_different_modalities_share_their_start_when_init_seed_is_set(init_seed):
    """Merging blocks trained apart works when latent, steps and head start from one draw."""
    options = {**TINY_LEGO, "init_seed": init_seed}
    torch.manual_seed(1)
    table = LegoBlock(modality="tab", kind="vector", in_dim=5, n_out=2, **options)
    torch.manual_seed(2)
    bags = LegoBlock(modality="img", kind="bag", in_dim=9, n_out=2, **options)
    a, b = _merged_parts(table), _merged_parts(bags)
    assert a.keys() == b.keys() and len(a) > 3
    assert all(torch.equal(a[name], b[name]) for name in a)
    # The encoders still come from the run's own generator: same global seed, same block.
    torch.manual_seed(1)
    again = LegoBlock(modality="tab", kind="vector", in_dim=5, n_out=2, **options)
    assert all(
        torch.equal(p, q) for p, q in zip(table.parameters(), again.parameters(), strict=True)
    )


def test_without_init_seed_each_block_draws_its_own_start():
    options = {**TINY_LEGO, "init_seed": None}
    torch.manual_seed(1)
    first = _merged_parts(LegoBlock(modality="tab", kind="vector", in_dim=5, n_out=2, **options))
    torch.manual_seed(2)
    second = _merged_parts(LegoBlock(modality="tab", kind="vector", in_dim=5, n_out=2, **options))
    assert not torch.equal(first["latent"], second["latent"])
