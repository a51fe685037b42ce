"""Losses, batching and the shared training loop (early stopping, best weights, outputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmlego.config import fill_defaults
from mmlego.models.catalogue import get_builder
from mmlego.models.losses import inverse_frequency_weights, survival_nll, survival_outputs
from mmlego.predictions import read_predictions
from mmlego.train.data import PatientDataset, modality_spec, survival_bin_index
from mmlego.train.loop import fit
from mmlego.train.outputs import CHECKPOINT_KEYS, load_model, read_checkpoint
from mmlego.train.run import train_run
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split


def test_survival_nll_matches_hand_computation():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])  # hazards (0.5, 0.75), (0.5, 0.5)
    bins = torch.tensor([1, 0])
    event = torch.tensor([1.0, 0.0])
    # Patient 0: event in bin 1: -[log S_0 + log h_1] = -[log 0.5 + log 0.75].
    unc0 = -(math.log(0.5) + math.log(0.75))
    # Patient 1: censored in bin 0: -log S_0 = -log 0.5.
    cen1 = -math.log(0.5)
    alpha = 0.4
    expected = ((1 - alpha) * unc0 + alpha * unc0 + (1 - alpha) * cen1) / 2
    assert survival_nll(logits, bins, event, alpha=alpha).item() == pytest.approx(
        expected, rel=1e-6
    )
    # Saturated logits stay finite.
    assert torch.isfinite(survival_nll(torch.full((2, 2), 80.0), bins, event))


def test_survival_outputs_risk_is_minus_sum_of_survival():
    hazards, survival, risk = survival_outputs(torch.tensor([[0.0, math.log(3.0)]]))
    assert torch.allclose(hazards, torch.tensor([[0.5, 0.75]]))
    assert torch.allclose(survival, torch.tensor([[0.5, 0.125]]))
    assert risk.item() == pytest.approx(-0.625)


def test_inverse_frequency_weights():
    weights = inverse_frequency_weights(torch.tensor([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])


def test_survival_bin_index_uses_train_edges():
    edges = [0.0, 2.0, 5.0, math.inf]
    assert survival_bin_index(np.array([0.5, 2.0, 4.9, 100.0]), edges).tolist() == [0, 1, 1, 2]


def test_collate_pads_bags_and_masks_series_and_absent_patients():
    data = make_split(kinds=("vector", "bag", "series"), absent={"img": [1], "ts": [2]}, n=10)
    dataset = PatientDataset(data, data.sets["train"])
    batch, targets, ids = dataset.collate([0, 1, 2])
    img, sizes = batch["img"], np.diff(data.modalities["img"].offsets)[:3]
    assert img.x.shape[:2] == (3, max(sizes))
    assert img.mask.sum(1).tolist() == sizes.tolist()
    assert torch.all(img.x[~img.mask] == 0)
    assert img.present.tolist() == [True, False, True]
    ts = batch["ts"]
    assert ts.mask.shape == (3, 6)
    assert not ts.mask[2].any() and not ts.present[2]
    assert ids == ["P000", "P001", "P002"] and targets["label"].shape == (3,)


def _block(data, modality="img", **lego):
    spec = {modality: modality_spec(data)[modality]}
    cfg = {"lego": {**TINY_LEGO, **lego}, "train": TINY_TRAIN}
    return get_builder("lego_block")(modalities=spec, n_out=data.n_out, task=data.task, cfg=cfg)


def test_best_epoch_weights_are_restored():
    data = make_split("survival", n=40)
    torch.manual_seed(0)
    model = _block(data)
    snapshots, scores = {}, {}

    def record(epoch, m, row):
        snapshots[epoch] = {k: v.clone() for k, v in m.state_dict().items()}
        scores[epoch] = row["val_metric"]

    cfg = {**TINY_TRAIN, "epochs": 8, "patience": 8}
    result = fit(model, data, cfg, require=["img"], on_epoch_end=record)
    assert len(result.log) == 8
    assert scores[result.best_epoch] == max(scores.values())
    final = model.state_dict()
    for key, value in snapshots[result.best_epoch].items():
        assert torch.equal(final[key], value), key
    if result.best_epoch != 8:  # the last epoch's weights differ, so the restore was real
        assert any(not torch.equal(final[k], v) for k, v in snapshots[8].items())


def test_early_stopping_stops_after_patience():
    data = make_split("binary", n=40)
    torch.manual_seed(0)
    model = _block(data)
    result = fit(
        model, data, {**TINY_TRAIN, "epochs": 30, "patience": 2, "lr": 0.0}, require=["img"]
    )
    # With lr 0 the val metric never improves after epoch 1.
    assert result.best_epoch == 1
    assert len(result.log) == 3


def test_fit_is_deterministic_for_a_seed():
    data = make_split("binary", n=40)
    states = []
    for _ in range(2):
        torch.manual_seed(1)
        model = _block(data, dropout=0.1)
        fit(model, data, TINY_TRAIN, require=["img"], seed=5)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_frozen_encoder_is_unchanged_by_training():
    data = make_split("binary", n=40)
    torch.manual_seed(0)
    model = _block(data, freeze_encoder=True, dropout=0.2)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    latent_before = model.latent.detach().clone()
    fit(model, data, {**TINY_TRAIN, "epochs": 3, "weight_decay": 0.1}, require=["img"])
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not torch.equal(model.latent.detach(), latent_before)
    model.train()
    assert not model.encoder.training


@pytest.mark.parametrize("task", ["survival", "binary", "multiclass"])
def test_train_run_writes_contract_outputs(tmp_path, task):
    data = make_split(task, n=40)
    cfg = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 2}}
    model = train_run(
        data, run="lego_block.tab", dataset="toy", split=0, cfg=cfg, out_dir=tmp_path,
        provenance={"seed": 0},
    )  # fmt: skip
    payload = read_checkpoint(tmp_path / "model.pt")
    assert set(CHECKPOINT_KEYS) <= set(payload)
    assert payload["modalities"] == {"tab": ["vector", 5]}
    preds = read_predictions(tmp_path / "predictions.parquet")
    frame, meta = preds.frame, preds.meta
    assert meta["run"] == "lego_block.tab" and meta["task"] == task
    assert sorted(frame["set"].unique()) == ["test", "val"]
    assert len(frame) == len(data.sets["val"]) + len(data.sets["test"])
    if task == "survival":
        surv = frame[[f"surv_{k}" for k in range(4)]].to_numpy()
        assert np.allclose(frame["risk"], -surv.sum(1))
        assert np.all(np.diff(surv, axis=1) <= 0)
    else:
        probs = frame[[f"prob_{k}" for k in range(data.n_out)]].to_numpy()
        assert np.allclose(probs.sum(1), 1.0)
        assert ((probs > 0) & (probs < 1)).all()
    log = (tmp_path / "train_log.csv").read_text().splitlines()
    assert log[0] == "epoch,train_loss,val_loss,val_metric,lr,seconds" and len(log) == 3
    reloaded = load_model(tmp_path / "model.pt")
    batch, _, _ = PatientDataset(data, data.sets["test"], ["tab"]).collate(range(5))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(batch), model(batch))


class _TwoHeads(torch.nn.Module):
    """A model whose second training output has a parameter ``forward`` never uses."""

    modalities = ("tab",)

    def __init__(self, dim: int, n_out: int) -> None:
        super().__init__()
        self.head = torch.nn.Linear(dim, n_out)
        self.aux_bias = torch.nn.Parameter(torch.zeros(n_out))

    def forward(self, batch):
        return self.head(batch["tab"].x)

    def training_logits(self, batch):
        logits = self(batch)
        return [logits, logits + self.aux_bias]


def test_the_loss_averages_every_training_output():
    """MultiModN trains the decoder after every step: the loop must use training_logits."""
    data = make_split(kinds=("vector",), n=40)
    torch.manual_seed(0)
    model = _TwoHeads(data.modalities["tab"].dim, data.n_out)
    fit(model, data, {**TINY_TRAIN, "epochs": 2}, device=torch.device("cpu"), seed=0)
    assert model.aux_bias.abs().sum() > 0, "the second training output never reached the loss"


def test_multimodn_trains_the_decoder_after_every_step():
    data = make_split(kinds=("vector", "bag"), n=10)
    spec = modality_spec(data)
    cfg = fill_defaults(
        {"datasets": {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}}
    )
    model = get_builder("multimodn")(modalities=spec, n_out=data.n_out, task=data.task, cfg=cfg)
    batch, _, _ = PatientDataset(data, data.sets["train"]).collate([0, 1, 2])
    model.eval()
    with torch.no_grad():
        outputs = model.training_logits(batch)
        steps = model.step_logits(batch)
    assert len(outputs) == len(spec) == 2
    assert all(torch.equal(a, b) for a, b in zip(outputs, steps, strict=True))
