"""Losses, batching and the shared training loop (early stopping, best weights, outputs)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mmlego.config import fill_defaults
from mmlego.models.catalogue import get_builder
from mmlego.models.losses import inverse_frequency_weights, survival_nll, survival_outputs
from mmlego.predictions import read_predictions
from mmlego.train.data import PatientDataset, modality_spec, survival_bin_index
from mmlego.train.loop import fit
from mmlego.train.monitor import replay
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


# A planted training log: the metric jumps (best at epoch 1, as on ~20 validation patients),
# the loss is smooth with its minimum at epoch 2 and, from epoch 3 on, at epoch 5.
PLANTED = pd.DataFrame(
    {
        "epoch": range(1, 9),
        "val_loss": [1.00, 0.50, 0.80, 0.60, 0.55, 0.70, 0.90, 0.40],
        "val_metric": [0.80, 0.55, 0.60, 0.70, 0.65, 0.75, 0.60, 0.79],
    }
)


@pytest.mark.parametrize(
    ("use_metric", "min_epochs", "patience", "kept", "last"),
    [
        (True, 1, 3, 1, 4),  # today's rule: the metric's maximum, stop 3 epochs later
        (False, 1, 3, 2, 5),  # the loss minimum
        (False, 3, 2, 5, 7),  # the loss minimum from epoch 3 on; epoch 2 is never kept
        (False, 4, 1, 5, 6),  # patience counts only from min_epochs: no stop at epoch 1..3
        (False, 3, 8, 8, 8),  # with patience enough, the later, lower loss wins
        (True, 2, 8, 8, 8),  # the metric's maximum from epoch 2 on
    ],
)
def test_the_kept_epoch_of_a_planted_log(use_metric, min_epochs, patience, kept, last):
    assert replay(PLANTED, use_metric=use_metric, min_epochs=min_epochs, patience=patience) == (
        kept,
        last,
    )


def test_a_metric_tie_goes_to_the_lower_loss_and_a_nan_score_is_never_kept():
    log = pd.DataFrame(
        {"epoch": [1, 2, 3], "val_loss": [0.9, 0.7, math.nan], "val_metric": [0.6, 0.6, 0.9]}
    )
    assert replay(log, use_metric=True, patience=5) == (3, 3)
    assert replay(log, use_metric=False, patience=5) == (2, 3)


def test_select_on_loss_keeps_the_val_loss_minimum_after_min_epochs():
    data = make_split("survival", n=40)
    torch.manual_seed(0)
    model = _block(data)
    snapshots, rows = {}, []

    def record(epoch, m, row):
        snapshots[epoch] = {k: v.clone() for k, v in m.state_dict().items()}
        rows.append(row)

    cfg = {**TINY_TRAIN, "epochs": 8, "patience": 8, "select_on": "loss", "min_epochs": 3}
    result = fit(model, data, cfg, require=["img"], on_epoch_end=record)
    losses = result.log.set_index("epoch")["val_loss"]
    assert result.best_epoch == losses.loc[3:].idxmin()
    assert result.monitor == "val_loss" and result.best_score == -losses.loc[3:].min()
    assert [r["candidate"] for r in rows] == [False, False] + [True] * 6
    assert [r["score"] for r in rows] == pytest.approx((-losses).tolist())
    final = model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in snapshots[result.best_epoch].items())


def test_the_defaults_select_on_metric_min_epochs_1_are_todays_loop():
    data = make_split("binary", n=40)
    fits = []
    for extra in ({}, {"select_on": "metric", "min_epochs": 1}):
        torch.manual_seed(0)
        model = _block(data)
        result = fit(model, data, {**TINY_TRAIN, "epochs": 8, **extra}, require=["img"])
        fits.append((result, model.state_dict()))
    (today, state), (default, state_default) = fits
    assert today.best_epoch == default.best_epoch and today.monitor == default.monitor == "auc"
    assert today.log.drop(columns="seconds").equals(default.log.drop(columns="seconds"))
    assert all(torch.equal(state[k], v) for k, v in state_default.items())
    dataset = {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}
    train = fill_defaults({"datasets": dataset})["train"]
    assert (train["select_on"], train["min_epochs"]) == ("metric", 1)


def test_min_epochs_above_the_runs_epochs_is_capped_and_a_bad_select_on_is_named():
    data = make_split("binary", n=40)
    torch.manual_seed(0)
    result = fit(_block(data), data, {**TINY_TRAIN, "epochs": 2, "min_epochs": 5}, require=["img"])
    assert result.best_epoch == 2 and len(result.log) == 2
    with pytest.raises(ValueError, match=r"'train\.select_on': 'auc'"):
        fit(_block(data), data, {**TINY_TRAIN, "select_on": "auc"}, require=["img"])
