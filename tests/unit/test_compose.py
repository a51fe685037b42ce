"""NaiveMC and DAMC: which parameters are averaged, the averages by hand, one modality, the
stacked order, equal weights, shape errors, and the jobs with λ chosen on validation only."""

from __future__ import annotations

import json

import pytest
import torch

from mmlego.models.compose import NaiveMC, average_parameters, is_shared
from mmlego.models.fuse import LegoFuse
from mmlego.models.lego import LegoBlock
from mmlego.predictions import read_predictions
from mmlego.train.combine import compose_run
from mmlego.train.data import PatientDataset
from mmlego.train.outputs import load_model
from tests.unit.splitdata import TINY_LEGO, make_split
from tests.unit.test_merge import _batch, _block
from tests.unit.test_merge_adaptive import _trained_blocks, _with_labels_permuted


def _two_blocks():
    blocks = {"tab": _block("tab", "vector", 5, 0), "img": _block("img", "bag", 4, 1)}
    with torch.no_grad():  # as if trained apart: the shared parts moved differently
        for n, block in enumerate(blocks.values()):
            for key, value in block.state_dict().items():
                if is_shared(key):
                    value.add_(0.1 * (n + 1))
    return blocks


def test_the_shared_parameters_are_the_latent_the_steps_but_kv_and_context_norm_and_head():
    keys = list(_block("tab", "vector", 5, 0).state_dict())
    shared = {k for k in keys if is_shared(k)}
    assert {"latent", "steps.0.attn.to_q.weight", "steps.0.norm_latent.weight",
            "steps.0.ff.0.weight", "steps.0.attn.to_out.0.bias", "head.linear.weight"} <= shared  # fmt: skip
    kept = set(keys) - shared
    assert "steps.0.attn.to_kv.weight" in kept and "steps.0.norm_context.weight" in kept
    assert all(k.startswith(("encoder.", "steps.")) for k in kept)


def test_the_averages_by_hand_and_the_modality_parts_kept():
    blocks = _two_blocks()
    a, b = (blk.state_dict() for blk in blocks.values())
    naive = NaiveMC(blocks).eval()
    damc = NaiveMC(blocks, weights={"tab": 0.25, "img": 0.75}).eval()
    for model, (wa, wb) in ((naive, (0.5, 0.5)), (damc, (0.25, 0.75))):
        for m in ("tab", "img"):
            state = model.blocks[m].state_dict()
            for key in ("latent", "steps.0.attn.to_q.weight", "head.linear.bias"):
                assert torch.allclose(state[key], wa * a[key] + wb * b[key], atol=1e-6)
            own = a if m == "tab" else b
            for key in ("steps.0.attn.to_kv.weight", "steps.0.norm_context.weight"):
                assert torch.equal(state[key], own[key])
            encoder = [k for k in state if k.startswith("encoder.")]
            assert encoder and all(torch.equal(state[k], own[k]) for k in encoder)
    # The originals are untouched.
    assert torch.equal(blocks["tab"].state_dict()["latent"], a["latent"])


def test_naive_mc_of_one_modality_is_that_block():
    block = _two_blocks()["tab"]
    composed = NaiveMC({"tab": block}).eval()
    with torch.no_grad():
        assert torch.equal(composed(_batch()), block(_batch()))


def test_the_composition_runs_the_stacked_order_and_skips_a_missing_modality():
    blocks = _two_blocks()
    composed = NaiveMC(blocks).eval()
    fused = LegoFuse(dict(composed.blocks), mode="stack", head="linear").eval()
    batch = _batch(img_present=torch.tensor([True, False, True, True, False]))
    with torch.no_grad():
        assert torch.allclose(composed(batch), fused(batch), atol=1e-6)
        # Patients 1 and 4 lack img: the tab steps alone, on the averaged backbone.
        alone = NaiveMC(blocks).eval()
        tab_only = alone.head_logits(
            alone.embed_contexts(alone.contexts(batch), torch.tensor([[True] * 5, [False] * 5]))
        )
        assert torch.equal(composed(batch)[[1, 4]], tab_only[[1, 4]])


def test_equal_weights_reproduce_naive_mc_exactly():
    blocks = {**_two_blocks(), "ts": _block("ts", "series", 2, 2)}
    naive = NaiveMC(blocks).eval()
    batch = _batch(img_present=torch.tensor([True, False, True, True, False]))
    with torch.no_grad():
        for weights in ({m: 1 / 3 for m in blocks}, {m: 5.0 for m in blocks}):
            assert torch.equal(NaiveMC(blocks, weights=weights).eval()(batch), naive(batch))
    assert all(torch.equal(v, average_parameters(blocks)[k])
               for k, v in average_parameters(blocks, [2.0, 2.0, 2.0]).items())  # fmt: skip


def test_blocks_whose_shared_shapes_differ_are_refused_naming_the_settings():
    torch.manual_seed(0)
    other = LegoBlock(modality="img", kind="bag", in_dim=4, n_out=4,
                      **{**TINY_LEGO, "latent_dim": 16})  # fmt: skip
    with pytest.raises(ValueError, match=r"lego\.latent_len, lego\.latent_dim"):
        NaiveMC({"tab": _block("tab", "vector", 5, 0), "img": other})
    # Different encoders and context widths are fine: they stay with their block.
    torch.manual_seed(0)
    raw = LegoBlock(modality="img", kind="bag", in_dim=3, n_out=4,
                    **{**TINY_LEGO, "encoder": "none"})  # fmt: skip
    NaiveMC({"tab": _block("tab", "vector", 5, 0), "img": raw})


def test_naive_mc_and_damc_jobs_choose_lambda_on_validation_only(tmp_path):
    data = make_split("binary", n=60, absent={"img": [40, 50]})
    paths = _trained_blocks(tmp_path, data)

    def run(split_data, name, adaptive):
        return compose_run(
            split_data, block_paths=paths, cfg={"merge": {"adaptive": {"step": 0.25}}},
            dataset="toy", split=0, out_dir=tmp_path / name, provenance={}, adaptive=adaptive,
        )  # fmt: skip

    naive = run(data, "naive", False)
    assert not (tmp_path / "naive" / "lambda.json").exists()
    damc = run(data, "damc", True)
    report = json.loads((tmp_path / "damc" / "lambda.json").read_text())
    assert len(report["curve"]) == 5 and report["curve"][0]["lambda"] == {"tab": 0.5, "img": 0.5}
    assert report["val_metric"] >= report["equal_val_metric"]
    assert report["lambda"] == pytest.approx(damc.weights)
    frame = read_predictions(tmp_path / "damc" / "predictions.parquet").frame
    assert len(frame) == 24 and frame["prob_1"].notna().all()
    batch, _, _ = PatientDataset(data, data.sets["test"]).collate(list(range(4)))
    with torch.no_grad():
        for name, model in (("naive", naive), ("damc", damc)):
            assert torch.equal(load_model(tmp_path / name / "model.pt")(batch), model(batch))
    run(_with_labels_permuted(data, "test", 1), "shuffled", True)
    shuffled = json.loads((tmp_path / "shuffled" / "lambda.json").read_text())
    assert shuffled["curve"] == report["curve"]
