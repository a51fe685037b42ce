"""LegoBlock: the complex latent between steps (Eq. 2), the imaginary part, weight sharing,
vector tokens, masks, embeddings and encoder choices."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from mmlego.models.base import ModalityBatch
from mmlego.models.lego import LegoBlock, sdpa_attention, small_attention
from tests.unit.splitdata import TINY_LEGO
from tests.unit.steps import record_steps


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


def test_fft_axes_follow_the_option():
    z = torch.randn(1, 4, 8)
    two_d = _block(fft="2d").to_frequency(z)
    one_d = _block(fft="1d").to_frequency(z)
    assert torch.allclose(two_d, torch.fft.fft2(z, norm="ortho"))
    assert torch.allclose(one_d, torch.fft.fft(z, dim=-2, norm="ortho"))


@pytest.mark.parametrize("fft", ["1d", "2d"])
@pytest.mark.parametrize("l2_normalise", [False, True])
def test_the_latent_entering_each_step_is_the_one_the_last_step_left(
    monkeypatch, fft, l2_normalise
):
    block = _block(fft=fft, l2_normalise=l2_normalise, depth=3)
    calls = record_steps(monkeypatch, [block])
    with torch.no_grad():
        final = block.embed({"m": _bag()})
    assert len(calls) == 3
    assert torch.equal(calls[0][0], block.start_frequency(3))
    for (_, leaving), (entering, _) in itertools.pairwise(calls):
        assert torch.equal(entering, leaving)
    assert torch.equal(final, calls[-1][1])


@pytest.mark.parametrize("fft", ["1d", "2d"])
@pytest.mark.parametrize("l2_normalise", [False, True])
@pytest.mark.parametrize("shared", [True, False])
def test_steps_follow_eq2_with_the_complex_spatial_latent(fft, l2_normalise, shared):
    """By hand: L_{t+1} = iFFT(R + i·I) stays complex and the next step takes its FFT."""
    block = _block(fft=fft, l2_normalise=l2_normalise, depth=3, weight_sharing=shared)
    dims = (-2, -1) if fft == "2d" else (-2,)
    bag = _bag()
    with torch.no_grad():
        context, mask = block.encoder(bag)
        spatial = block.latent.expand(3, -1, -1).to(torch.complex64)
        for i in range(3):
            freq = torch.fft.fftn(spatial, dim=dims, norm="ortho")
            if l2_normalise:
                freq = freq / freq.abs().square().sum(dim=-2, keepdim=True).sqrt()
            update = block.steps[0 if shared else i]
            freq = torch.complex(update(freq.real, context, mask), freq.imag)
            spatial = torch.fft.ifftn(freq, dim=dims, norm="ortho")
        assert torch.allclose(block.embed(bag), freq, atol=1e-5)


def test_without_l2_normalise_the_imaginary_part_is_the_learned_constant():
    block = _block(depth=3)
    with torch.no_grad():
        first = block.embed({"m": _bag(seed=0)})
        other = block.embed({"m": _bag(seed=1)})
    constant = block.start_frequency(3).imag
    assert torch.equal(first.imag, constant) and torch.equal(other.imag, constant)
    assert not torch.allclose(first.real, other.real)


def test_with_l2_normalise_each_imaginary_column_is_the_constant_scaled_by_the_input():
    block = _block(depth=3, l2_normalise=True, fft="1d")
    with torch.no_grad():
        first = block.embed({"m": _bag(seed=0)})
        other = block.embed({"m": _bag(seed=1)})
    constant = F.normalize(block.start_frequency(3), dim=-2).imag
    usable = constant.abs() > 1e-3
    for freq in (first, other):
        ratio = torch.where(usable, freq.imag / constant, torch.nan)
        per_column = torch.nanmean(ratio, dim=-2, keepdim=True)
        assert torch.allclose(ratio[usable], per_column.expand_as(ratio)[usable], rtol=1e-4)
        assert (per_column > 0).all()
    assert not torch.allclose(first.imag, other.imag)


@pytest.mark.parametrize(("fft", "paired"), [("1d", True), ("2d", False)])
def test_with_fft_1d_latent_rows_i_and_c_minus_i_stay_equal(fft, paired):
    block = _block(fft=fft, latent_len=6)
    with torch.no_grad():
        real = block.embed({"m": _bag()}).real
    mirrored = torch.roll(torch.flip(real, dims=[1]), 1, dims=1)  # row i -> row (c - i) mod c
    assert torch.allclose(real, mirrored, atol=1e-6) == paired


def test_embed_is_the_final_frequency_latent_and_the_head_reads_it():
    block = _block()
    batch = {"m": _bag()}
    freq = block.embed(batch)
    assert freq.is_complex() and freq.shape == (3, 4, 8)
    assert torch.allclose(block(batch), block.head(freq))
    assert block(batch).shape == (3, 3)


@pytest.mark.parametrize(("shared", "modules"), [(True, 1), (False, 3)])
def test_weight_sharing_applies_one_step_depth_times(shared, modules):
    block = _block(depth=3, weight_sharing=shared)
    assert len(block.steps) == modules
    counts = [0] * modules

    def count(index):
        def hook(*_):
            counts[index] += 1

        return hook

    for index, step in enumerate(block.steps):
        step.register_forward_hook(count(index))
    block({"m": _bag()})
    assert sum(counts) == 3 and counts == ([3] if shared else [1, 1, 1])


@pytest.mark.parametrize("encoder", ["auto", "none"])
def test_vector_tokens_give_different_latents_different_updates(encoder):
    x = torch.randn(2, 10)
    inputs = ModalityBatch(x, torch.ones(2, dtype=torch.bool))
    queries = torch.randn(2, 4, 8)
    for k in (1, 4):
        block = _block(kind="vector", in_dim=10, encoder=encoder, vector_tokens=k)
        tokens, mask = block.encoder(inputs)
        # Every token valid: no mask, so the attention takes its unmasked path.
        assert tokens.shape[:2] == (2, k) and mask is None
        with torch.no_grad():
            update = block.steps[0].attn(queries, tokens, mask)
        same = torch.allclose(update, update[:, :1].expand_as(update), atol=1e-6)
        # One token: the softmax over the keys is 1, so every query gets the same value.
        assert same == (k == 1)


def test_vector_tokens_of_raw_features_are_zero_padded_chunks():
    block = _block(kind="vector", in_dim=10, encoder="none", vector_tokens=4)
    x = torch.arange(20.0).view(2, 10)
    tokens, _ = block.encoder(ModalityBatch(x, torch.ones(2, dtype=torch.bool)))
    assert tokens.shape == (2, 4, 3)
    assert torch.equal(tokens[0].flatten()[:10], x[0]) and torch.equal(
        tokens[:, -1, 1:], torch.zeros(2, 2)
    )


def test_padding_content_and_other_samples_do_not_change_a_sample():
    block = _block()
    bag = _bag()
    out = block({"m": bag})
    dirty = bag.x.clone()
    dirty[~bag.mask] = 1e4
    assert torch.allclose(block({"m": ModalityBatch(dirty, bag.present, bag.mask)}), out, atol=1e-5)
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(block({"m": bag.select(perm)}), out[perm], atol=1e-5)


@pytest.mark.parametrize("vector_tokens", [1, 3])
def test_absent_sample_predicts_from_the_latent_alone(vector_tokens):
    block = _block(kind="vector", in_dim=5, vector_tokens=vector_tokens)
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
    with pytest.raises(TypeError, match="latent_size"):
        LegoBlock(modality="m", kind="bag", in_dim=4, n_out=2, latent_size=3)
    with pytest.raises(ValueError, match="SNN"):
        LegoBlock(modality="m", kind="bag", in_dim=4, n_out=2, encoder="snn")
    with pytest.raises(ValueError, match="vector_tokens"):
        LegoBlock(modality="m", kind="vector", in_dim=4, n_out=2, vector_tokens=0)


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


@pytest.mark.parametrize("l2_normalise", [False, True])
def test_the_shared_first_step_equals_the_per_sample_step(l2_normalise):
    # The first step projects the one latent every sample starts from once; the result must
    # be the per-sample computation's, for every sample.
    block = _block(l2_normalise=l2_normalise)
    bag = _bag()
    with torch.no_grad():
        context, mask = block.encoder(bag)
        start = block.start_frequency(3)
        assert start.stride(0) == 0
        shared = block.step_parts(0, start.real, start.imag, context, mask)
        apart = block.step_parts(0, start.real.contiguous(), start.imag.contiguous(), context, mask)
    for fast, slow in zip(shared, apart, strict=True):
        assert torch.allclose(fast, slow, atol=1e-6)
    assert not torch.allclose(shared[0][0], shared[0][1])  # the update is per sample


def test_a_full_mask_is_dropped_and_changes_nothing():
    block = _block(kind="series")
    bag = _bag()
    full = ModalityBatch(x=bag.x, present=bag.present, mask=torch.ones_like(bag.mask))
    torch.manual_seed(1)
    queries = torch.randn(3, 4, block.latent.shape[1])
    with torch.no_grad():
        context, mask = block.encoder(full)
        assert mask is None
        every = torch.ones(context.shape[:2], dtype=torch.bool)
        with_mask = block.steps[0](queries, context, every)
        without = block.steps[0](queries, context, None)
    assert torch.allclose(with_mask, without, atol=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_shared_steps_project_the_context_once_with_unchanged_outputs_and_gradients(shared):
    # One step applied depth times sees one context: its keys and values are projected once.
    # The reference projects them in every step, as each step on its own does.
    block = _block(depth=3, weight_sharing=shared).train()
    bag = _bag()
    calls = []
    for step in block.steps:
        step.attn.to_kv.register_forward_hook(lambda *_: calls.append(1))
    logits = block({"m": bag})
    assert len(calls) == (1 if shared else 3)
    fast = torch.autograd.grad(logits.square().sum(), list(block.parameters()), allow_unused=True)
    context, mask = block.encoder(bag)
    start = block.start_frequency(3)
    real = start.real
    for i in range(3):
        real = block.steps[0 if shared else i](real, context, mask, shared_latent=i == 0)
    reference = block.head(real)
    assert torch.equal(logits, reference)
    slow = torch.autograd.grad(
        reference.square().sum(), list(block.parameters()), allow_unused=True
    )
    for a, b in zip(fast, slow, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shared", [False, True], ids=["own queries", "shared queries"])
@pytest.mark.parametrize("tokens", [1, 8, 25])
@pytest.mark.parametrize("masked", [False, True])
def test_cpu_attention_equals_torch_sdpa_in_values_and_gradients(tokens, masked, shared):
    torch.manual_seed(0)
    b, h, n, dk = 3, 2, 5, 8
    q = torch.randn(1 if shared else b, h, n, dk, requires_grad=True)
    k, v = (torch.randn(b, h, tokens, dk, requires_grad=True) for _ in range(2))
    allowed = None
    if masked:
        allowed = torch.rand(b, tokens) > 0.4
        allowed[:, 0] = True  # the caller lets a row with no valid token attend everywhere
    grad = torch.randn(b, h, n, dk)
    outs, grads = [], []
    for attend in (sdpa_attention, small_attention):
        # One latent for the batch (the first step): small_attention takes it as it is.
        queries = q.expand(b, -1, -1, -1) if attend is sdpa_attention else q
        out = attend(queries, k, v, allowed)
        outs.append(out.detach())
        grads.append(torch.autograd.grad(out, (q, k, v), grad))
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
    for ours, torchs in zip(grads[1], grads[0], strict=True):
        assert torch.allclose(ours, torchs, atol=1e-5)
    if masked:
        # A disallowed token gets no weight: changing its value changes nothing.
        v2 = v.detach().clone()
        v2[~allowed[:, None, :, None].expand_as(v2)] = 1e3
        assert torch.allclose(small_attention(q, k, v2, allowed), outs[1], atol=1e-5)
