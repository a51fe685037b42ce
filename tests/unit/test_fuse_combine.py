"""LegoFuse (stack/weave, missing modalities) and the merge/fuse jobs end to end on toy data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from mmlego.models.base import ModalityBatch
from mmlego.models.fuse import LegoFuse
from mmlego.models.lego import LegoBlock
from mmlego.models.merge import merge_heads
from mmlego.predictions import read_predictions
from mmlego.train.combine import fuse_run, merge_run
from mmlego.train.data import PatientDataset
from mmlego.train.loop import fit
from mmlego.train.outputs import load_model
from mmlego.train.run import train_run
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split
from tests.unit.steps import record_steps


def _blocks(**opts):
    torch.manual_seed(0)
    options = {**TINY_LEGO, **opts}
    tab = LegoBlock(modality="tab", kind="vector", in_dim=5, n_out=2, **options).eval()
    img = LegoBlock(modality="img", kind="bag", in_dim=4, n_out=2, **options).eval()
    return {"tab": tab, "img": img}


def _batch(img_present):
    gen = torch.Generator().manual_seed(1)
    b = len(img_present)
    mask = (torch.ones(b, 3, dtype=torch.bool)) & img_present[:, None]
    return {
        "tab": ModalityBatch(torch.randn(b, 5, generator=gen), torch.ones(b, dtype=torch.bool)),
        "img": ModalityBatch(
            torch.randn(b, 3, 4, generator=gen) * mask[..., None], img_present, mask
        ),
    }


def test_schedules():
    blocks = _blocks()
    assert LegoFuse(blocks, mode="stack").schedule() == [
        ("tab", 0),
        ("tab", 1),
        ("img", 0),
        ("img", 1),
    ]
    assert LegoFuse(blocks, mode="weave").schedule() == [
        ("tab", 0),
        ("img", 0),
        ("tab", 1),
        ("img", 1),
    ]


@pytest.mark.parametrize("mode", ["stack", "weave"])
def test_fuse_head_starts_as_the_merged_head_and_missing_modality_skips_its_block(mode):
    blocks = _blocks()
    fused = LegoFuse(blocks, mode=mode).eval()
    expected = merge_heads([dict(b.head.state_dict()) for b in blocks.values()])
    for key, value in fused.head.state_dict().items():
        assert torch.allclose(value, expected[key])
    batch = _batch(torch.tensor([True, False]))
    with torch.no_grad():
        out = fused(batch)
        # Patient 1 lacks img: only the tab block's steps run, from the tab block's latent.
        tab_only = fused.head(blocks["tab"].embed(batch))
        assert torch.allclose(out[1], tab_only[1], atol=1e-5)
        assert not torch.allclose(out[0], tab_only[0], atol=1e-4)


@pytest.mark.parametrize("mode", ["stack", "weave"])
@pytest.mark.parametrize("fft", ["1d", "2d"])
@pytest.mark.parametrize("l2_normalise", [False, True])
def test_the_latent_entering_each_fused_step_is_the_one_the_last_step_left(
    monkeypatch, mode, fft, l2_normalise
):
    """Within a block and from block to block, the next step receives the last one's output."""
    blocks = _blocks(fft=fft, l2_normalise=l2_normalise)
    fused = LegoFuse(blocks, mode=mode).eval()
    calls = record_steps(monkeypatch, blocks.values())
    with torch.no_grad():
        final = fused.embed(_batch(torch.tensor([True, True])))
    assert len(calls) == len(fused.schedule()) == 4
    assert torch.equal(calls[0][0], blocks["tab"].start_frequency(2))
    for (_, leaving), (entering, _) in itertools.pairwise(calls):
        assert torch.equal(entering, leaving)
    assert torch.equal(final, calls[-1][1])


@pytest.mark.parametrize("shared", [True, False])
def test_weave_follows_eq2_from_block_to_block(shared):
    """By hand: the complex spatial latent of one block's step is FFT'd by the next block."""
    blocks = _blocks(weight_sharing=shared)
    fused = LegoFuse(blocks, mode="weave").eval()
    batch = _batch(torch.tensor([True, True]))
    with torch.no_grad():
        contexts = {m: blocks[m].encoder(batch[m]) for m in blocks}
        spatial = blocks["tab"].latent.expand(2, -1, -1).to(torch.complex64)
        for m, i in fused.schedule():
            freq = torch.fft.fft2(spatial, norm="ortho")
            update = blocks[m].steps[0 if shared else i]
            freq = torch.complex(update(freq.real, *contexts[m]), freq.imag)
            spatial = torch.fft.ifft2(freq, norm="ortho")
        assert torch.allclose(fused.embed(batch), freq, atol=1e-5)


@pytest.mark.parametrize("head", ["slerp", "linear"])
def test_fuse_head_follows_the_merge_head_option(head):
    blocks = _blocks()
    with torch.no_grad():  # trained heads differ; untrained ones share init_seed's draw
        blocks["img"].head.linear.weight.mul_(-0.5).add_(0.3)
    fused = LegoFuse(blocks, head=head)
    expected = merge_heads([dict(b.head.state_dict()) for b in blocks.values()], method=head)
    for key, value in fused.head.state_dict().items():
        assert torch.allclose(value, expected[key])
    other = merge_heads(
        [dict(b.head.state_dict()) for b in blocks.values()],
        method="linear" if head == "slerp" else "slerp",
    )
    assert not torch.allclose(fused.head.state_dict()["linear.weight"], other["linear.weight"])


def test_merge_and_fuse_jobs_write_outputs_and_handle_missing_modalities(tmp_path):
    data = make_split("binary", n=60, absent={"img": [50, 51, 52], "tab": [53, 54]})
    cfg = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 4}}
    paths = {}
    for modality in ("tab", "img"):
        out = tmp_path / f"lego_block.{modality}"
        train_run(
            data,
            run=f"lego_block.{modality}",
            dataset="toy",
            split=0,
            cfg=cfg,
            out_dir=out,
            provenance={},
        )
        paths[modality] = out / "model.pt"
    merged = merge_run(
        data,
        block_paths=paths,
        cfg={"merge": {}},
        dataset="toy",
        split=0,
        out_dir=tmp_path / "merge",
        provenance={},
    )
    report = json.loads((tmp_path / "merge" / "missing_modality.json").read_text())
    assert report["metric"] == "auc" and set(report["without"]) == {"tab", "img"}
    # The signal is planted in both modalities: every variant is far better than chance.
    assert report["merge"] > 0.7 and min(report["without"].values()) > 0.7
    assert report["dataset"] == "toy" and report["split"] == 0
    # Each block is scored on the test patients with its modality only (P050-P052 lack img,
    # P053-P054 tab): the AUC of its saved predictions on those patients.
    for modality, lacking in (("img", {"P050", "P051", "P052"}), ("tab", {"P053", "P054"})):
        block = read_predictions(paths[modality].with_name("predictions.parquet"))
        test = block.frame[block.subset("test") & ~block.frame["patient_id"].isin(lacking)]
        assert len(test) == 12 - len(lacking)
        expected = roc_auc_score(test["label"], test["prob_1"])
        assert report["blocks"][modality] == pytest.approx(expected, abs=1e-6), modality
    preds = read_predictions(tmp_path / "merge" / "predictions.parquet")
    frame, meta = preds.frame, preds.meta
    assert meta["run"] == "lego_merge" and len(frame) == 24
    assert np.isfinite(frame[["prob_0", "prob_1"]].to_numpy()).all()
    # Patients lacking a modality get the other block's prediction exactly.
    reloaded = load_model(tmp_path / "merge" / "model.pt")
    tab_block = load_model(paths["tab"])
    dataset = PatientDataset(data, ["P050", "P051"])
    batch, _, _ = dataset.collate([0, 1])
    with torch.no_grad():
        assert torch.allclose(reloaded(batch), tab_block(batch), atol=1e-5)
        assert torch.allclose(reloaded(batch), merged(batch), atol=1e-6)
    fuse_cfg = {
        "fuse": {"mode": "weave", "lr": 1e-3, "select": "last", "epochs": 1},
        "merge": {"head": "linear"},
        "train": cfg["train"],
    }
    fuse_run(
        data,
        block_paths=paths,
        cfg=fuse_cfg,
        dataset="toy",
        split=0,
        out_dir=tmp_path / "fuse",
        provenance={},
    )
    log = (tmp_path / "fuse" / "train_log.csv").read_text().splitlines()
    assert len(log) == 2  # header + fuse.epochs = 1
    assert float(log[1].split(",")[log[0].split(",").index("lr")]) == 1e-3
    fused = load_model(tmp_path / "fuse" / "model.pt")
    assert isinstance(fused, LegoFuse) and (fused.mode, fused.head_method) == ("weave", "linear")
    # Without fuse.lr the fine-tuning runs at the blocks' own train.lr.
    fuse_run(
        data, block_paths=paths,
        cfg={"fuse": {"mode": "stack", "select": "best", "epochs": 1}, "merge": {"head": "slerp"},
             "train": cfg["train"]},
        dataset="toy", split=0, out_dir=tmp_path / "fuse_default", provenance={},
    )  # fmt: skip
    log = (tmp_path / "fuse_default" / "train_log.csv").read_text().splitlines()
    assert float(log[1].split(",")[log[0].split(",").index("lr")]) == cfg["train"]["lr"] != 1e-3
    frame = read_predictions(tmp_path / "fuse" / "predictions.parquet").frame
    assert len(frame) == 24 and np.isfinite(frame["prob_1"]).all()


@pytest.mark.parametrize("select", ["last", "best"])
def test_fuse_select_keeps_the_last_or_the_best_validation_epoch(select):
    data = make_split("binary", n=60)
    fused = LegoFuse(_blocks(weight_sharing=False, vector_tokens=1))  # best epoch 3 of 4
    snapshots = {}

    def remember(epoch, model, row):
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    train = {**TINY_TRAIN, "lr": 3e-2, "patience": 10}
    result = fit(
        fused, data, train, require=["tab", "img"], epochs=4, on_epoch_end=remember,
        restore_best=select == "best",
    )  # fmt: skip
    kept = 4 if select == "last" else result.best_epoch
    assert all(torch.equal(v, snapshots[kept][k]) for k, v in fused.state_dict().items())
    # The best epoch is not the last, so the two selections keep different weights.
    assert result.best_epoch < 4
    assert any(
        not torch.equal(snapshots[result.best_epoch][k], snapshots[4][k]) for k in snapshots[4]
    )
