"""Baseline models on synthetic batches: shapes, per-sample independence, masks, and the
released code's bugs (ABMIL/MCAT mixing samples, MultiModN's frozen encoders, bilinear fusion)."""

from __future__ import annotations

import copy

import pytest
import torch

from mmlego.config import fill_defaults
from mmlego.models.base import InputSpec, ModalityBatch, input_specs
from mmlego.models.baselines.late import outer_product
from mmlego.models.baselines.mcat import group_slices
from mmlego.models.catalogue import get_builder

B, N_OUT = 5, 3
TAB = InputSpec("vector", 7)
OMIC = InputSpec("vector", 4)
TS = InputSpec("series", 3)
STEPS = 6
BAG = InputSpec("bag", 8)

UNIMODAL = [("snn", {"tab": TAB}), ("abmil", {"bag": BAG}), ("abmil", {"ts": TS})] + [
    ("perceiver", {name: spec}) for name, spec in (("tab", TAB), ("ts", TS), ("bag", BAG))
]
FUSION = ["perceiver_early", "late_concat", "late_bilinear", "multimodn", "healnet"]
MULTIMODAL = (
    [(m, {"tab": TAB, "bag": BAG}) for m in FUSION]
    + [(m, {"tab": TAB, "ts": TS, "bag": BAG}) for m in FUSION]
    + [
        ("mcat", {"tab": TAB, "bag": BAG}),
        ("mcat", {"tab": TAB, "ts": TS}),
        ("mcat", {"mut": OMIC, "cnv": OMIC, "rna": TAB, "bag": BAG}),
    ]
)
CASES = UNIMODAL + MULTIMODAL
IDS = [f"{m}-{'+'.join(i)}" for m, i in CASES]


@pytest.fixture(scope="module")
def config():
    base = fill_defaults(
        {"datasets": {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}}
    )
    base["baselines"].update(dim=8, heads=2, dropout=0.0)
    base["baselines"]["perceiver"].update(latents=4, depth=2)
    base["baselines"]["healnet"].update(latents=4, depth=2)
    base["baselines"]["late"]["bilinear_dim"] = 3
    base["baselines"]["mcat"]["groups"] = 3
    return base


def make(model, inputs, config):
    """Call the registered builder as the training job does."""
    return get_builder(model)(modalities=inputs, n_out=N_OUT, task="multiclass", cfg=config)


def build(model, inputs, config, seed=0):
    torch.manual_seed(seed)
    return make(model, inputs, config).eval()


def make_batch(inputs, size=B, seed=0, n_instances=9):
    """Random batch with ragged bags/series (padding) and sample 1 lacking every modality but the first."""
    gen = torch.Generator().manual_seed(seed)
    batch = {}
    for i, (name, spec) in enumerate(inputs.items()):
        present = torch.ones(size, dtype=torch.bool)
        if i > 0 and size > 1:
            present[1] = False
        if spec.kind == "vector":
            x = torch.randn(size, spec.dim, generator=gen)
            batch[name] = ModalityBatch(x * present[:, None], present)
            continue
        length = STEPS if spec.kind == "series" else n_instances
        x = torch.randn(size, length, spec.dim, generator=gen)
        lengths = torch.randint(2, length + 1, (size,), generator=gen)
        mask = (torch.arange(length)[None, :] < lengths[:, None]) & present[:, None]
        batch[name] = ModalityBatch(x * mask[..., None], present, mask)
    return batch


def subset(batch, index):
    return {name: mb.select(torch.as_tensor(index)) for name, mb in batch.items()}


@pytest.mark.parametrize(("model", "inputs"), CASES, ids=IDS)
def test_logits_shape_finite_and_gradients_reach_every_parameter(model, inputs, config):
    net = build(model, inputs, config).train()
    batch = make_batch(inputs)
    logits = net(batch)
    assert logits.shape == (B, N_OUT)
    assert torch.isfinite(logits).all()
    logits.pow(2).sum().backward()
    missing = [
        n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert not missing, f"parameters without a finite gradient: {missing}"
    assert net.modalities == tuple(inputs)


@pytest.mark.parametrize(("model", "inputs"), CASES, ids=IDS)
def test_a_samples_output_does_not_depend_on_the_rest_of_the_batch(model, inputs, config):
    """The released ABMIL took its softmax over the batch and MCAT mixed patches across
    samples: permuting or replacing the other samples must leave each output unchanged."""
    net = build(model, inputs, config)
    batch = make_batch(inputs)
    with torch.no_grad():
        reference = net(batch)
        order = torch.tensor([3, 0, 4, 2, 1])
        assert torch.allclose(net(subset(batch, order)), reference[order], atol=1e-5)
        others = make_batch(inputs, seed=7)
        for name in batch:  # sample 0 kept, the other four replaced by new data
            for field in ("x", "present", "mask"):
                if getattr(batch[name], field) is not None:
                    getattr(others[name], field)[0] = getattr(batch[name], field)[0]
        assert torch.allclose(net(others)[0], reference[0], atol=1e-5)
        alone = net(subset(batch, [0]))
        assert torch.allclose(alone[0], reference[0], atol=1e-5)
        # and the outputs are not a constant
        assert (reference - reference[0]).abs().max() > 1e-4


@pytest.mark.parametrize(("model", "inputs"), CASES, ids=IDS)
def test_padding_and_absent_modalities_are_ignored(model, inputs, config):
    net = build(model, inputs, config)
    batch = make_batch(inputs)
    noisy = copy.deepcopy(batch)
    for mb in noisy.values():
        if mb.mask is not None:
            mb.x[~mb.mask] = 100.0  # padding and absent samples' instances
        else:
            mb.x[~mb.present] = 100.0  # absent samples' vectors
    with torch.no_grad():
        assert torch.allclose(net(noisy), net(batch), atol=1e-5)
        # extra all-padding instances change nothing either
        longer = {}
        for name, mb in batch.items():
            if mb.mask is not None and inputs[name].kind == "bag":
                pad = torch.zeros(B, 4, mb.x.shape[2])
                longer[name] = ModalityBatch(
                    torch.cat([mb.x, pad], 1),
                    mb.present,
                    torch.cat([mb.mask, torch.zeros(B, 4, dtype=torch.bool)], 1),
                )
            else:
                longer[name] = mb
        assert torch.allclose(net(longer), net(batch), atol=1e-5)


def test_multimodn_encoders_learn_after_one_step(config):
    """The released MultiModN wrapped encoder outputs in a new Parameter: no gradient reached
    the encoders. Every encoder parameter must get a non-zero gradient and move."""
    inputs = {"tab": TAB, "ts": TS, "bag": BAG}
    net = build("multimodn", inputs, config).train()
    batch = make_batch(inputs)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(net(batch), torch.tensor([0, 1, 2, 0, 1]))
    loss.backward()
    # The attention score's bias shifts every score alike, so softmax cancels its gradient.
    encoder_params = [
        (n, p)
        for n, p in net.named_parameters()
        if n.startswith("encoders.") and not n.endswith("attn_w.bias")
    ]
    assert {n.split(".")[1] for n, _ in encoder_params} == set(inputs)
    for name, param in encoder_params:
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    optimiser.step()
    for name, param in encoder_params:
        assert not torch.equal(param, before[name]), f"{name} did not change"


def test_multimodn_skips_absent_modalities_and_decodes_after_each_step(config):
    inputs = {"tab": TAB, "ts": TS, "bag": BAG}
    net = build("multimodn", inputs, config)
    batch = make_batch(inputs)  # sample 1 lacks ts and bag
    with torch.no_grad():
        steps = net.step_logits(batch)
        assert len(steps) == 3
        assert torch.equal(net(batch), steps[-1])
        # sample 1's state is unchanged by the ts and bag modules
        assert torch.allclose(steps[2][1], steps[0][1]) and torch.allclose(steps[1][1], steps[0][1])
        assert not torch.allclose(steps[2][0], steps[0][0])


def test_bilinear_fusion_depends_on_both_inputs_and_their_interaction(config):
    inputs = {"tab": TAB, "bag": BAG}
    net = build("late_bilinear", inputs, config)
    gen = torch.Generator().manual_seed(3)
    a1, a2 = make_batch(inputs, seed=1), make_batch(inputs, seed=2)

    def mix(tab_from, bag_from):
        return {"tab": tab_from["tab"], "bag": bag_from["bag"]}

    with torch.no_grad():
        f11, f12 = net.fused(mix(a1, a1)), net.fused(mix(a1, a2))
        f21, f22 = net.fused(mix(a2, a1)), net.fused(mix(a2, a2))
        valid = torch.tensor([0, 2, 3, 4])  # sample 1 lacks the bag in both batches
        assert (f11 - f12)[valid].abs().max() > 1e-4, "output ignores the bag"
        assert (f11 - f21)[valid].abs().max() > 1e-4, "output ignores the table"
        # an additive (non-bilinear) fusion has a zero mixed difference
        assert (f11 - f12 - f21 + f22)[valid].abs().max() > 1e-6
        assert (net(mix(a1, a1)) - net(mix(a1, a2)))[valid].abs().max() > 1e-5
        # a missing bag contributes [0, ..., 0, 1]: only the table's terms survive
        fused = f11[1].reshape(4, 4)  # (k + 1) x (k + 1) with k = 3
        assert torch.all(fused[:, :3] == 0) and fused[3, 3] == 1
    del gen


def test_outer_product_holds_every_cross_term():
    a, b, c = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 1.0]]), torch.tensor([[2.0, 5.0]])
    assert outer_product([a, b]).tolist() == [[3.0, 1.0, 6.0, 2.0]]
    assert outer_product([a, b, c]).shape == (1, 8)
    assert outer_product([a, b, c])[0, -1] == 2.0 * 1.0 * 5.0


def test_mcat_groups_split_a_single_table_or_use_one_group_per_table():
    assert group_slices({"tab": InputSpec("vector", 10), "bag": BAG}, 3) == [
        ("tab", 0, 3),
        ("tab", 3, 7),
        ("tab", 7, 10),
    ]
    assert group_slices({"tab": InputSpec("vector", 2), "bag": BAG}, 4) == [
        ("tab", 0, 1),
        ("tab", 1, 2),
    ]
    three = {"mut": OMIC, "cnv": OMIC, "rna": TAB, "bag": BAG}
    assert group_slices(three, 3) == [("mut", 0, 4), ("cnv", 0, 4), ("rna", 0, 7)]


@pytest.mark.parametrize(
    ("model", "inputs", "message"),
    [
        ("mcat", {"tab": TAB, "other": TAB}, "exactly one bag or time-series"),
        ("mcat", {"bag": BAG, "ts": TS, "tab": TAB}, "exactly one bag or time-series"),
        ("snn", {"bag": BAG}, "snn"),
        ("abmil", {"tab": TAB}, "abmil"),
        ("perceiver", {"tab": TAB, "bag": BAG}, "unimodal"),
        ("healnet", {"tab": TAB}, "at least 2"),
        ("late_bilinear", {"tab": TAB}, "at least 2"),
    ],
)
def test_builders_reject_inputs_the_method_cannot_take(model, inputs, message, config):
    with pytest.raises(ValueError, match=message):
        make(model, inputs, config)


def test_bilinear_refuses_an_exploding_outer_product(config):
    wide = copy.deepcopy(config)
    wide["baselines"]["late"]["bilinear_dim"] = 63
    inputs = {f"t{i}": TAB for i in range(4)}
    with pytest.raises(ValueError, match=r"baselines\.late\.bilinear_dim"):
        make("late_bilinear", inputs, wide)


def test_healnet_weight_sharing_ties_layers_after_the_first(config):
    inputs = {"tab": TAB, "bag": BAG}

    def n_params(depth, sharing):
        cfg = copy.deepcopy(config)
        cfg["baselines"]["healnet"].update(depth=depth, weight_sharing=sharing)
        return sum(p.numel() for p in build("healnet", inputs, cfg).parameters())

    assert n_params(4, "layers") == n_params(2, "layers") == n_params(2, "none")
    assert n_params(4, "none") > n_params(2, "none")
    cfg = copy.deepcopy(config)
    cfg["baselines"]["healnet"].update(depth=4, weight_sharing="layers")
    assert build("healnet", inputs, cfg).order == [0, 1, 1, 1]


def test_perceiver_early_tags_tokens_with_their_modality(config):
    """Swapping two same-shaped modalities changes the output only through their embeddings."""
    inputs = {"a": TAB, "b": TAB}
    net = build("perceiver_early", inputs, config)
    batch = make_batch(inputs)
    batch["b"] = ModalityBatch(batch["b"].x, torch.ones(B, dtype=torch.bool))
    swapped = {"a": batch["b"], "b": batch["a"]}
    with torch.no_grad():
        assert not torch.allclose(net(batch), net(swapped), atol=1e-5)
        net.modality_embedding["b"].copy_(net.modality_embedding["a"])
        net.tokenisers["b"].load_state_dict(net.tokenisers["a"].state_dict())
        assert torch.allclose(net(batch), net(swapped), atol=1e-5)


def test_builders_rebuild_from_a_checkpoints_plain_kind_dim_pairs(config):
    """Checkpoints store modalities as [kind, dim] lists; ``input_specs`` turns them back into
    the one spec type every builder takes."""
    specs = input_specs({"tab": ["vector", 7], "bag": ("bag", "8")})
    assert specs == {"tab": InputSpec("vector", 7), "bag": InputSpec("bag", 8)}
    net = get_builder("healnet")(modalities=specs, n_out=2, task="binary", cfg=config)
    assert net.modalities == ("tab", "bag")
    with pytest.raises(KeyError, match="'baselines' config section"):
        get_builder("snn")(modalities={"tab": TAB}, n_out=2, task="binary", cfg={})
