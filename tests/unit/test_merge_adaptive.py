"""Adaptive LegoMerge: weighted aggregation against hand-computed values, one-hot and equal
weights, and the choice of λ on validation only."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from mmlego.models.merge import (
    LegoMerge,
    LegoMergeAdaptive,
    aggregate_magnitude,
    aggregate_phase,
    block_weights,
    merge_heads,
    spherical_mean,
)
from mmlego.predictions import read_predictions
from mmlego.train.combine import adaptive_merge_run, merge_run
from mmlego.train.merge_weights import choose_weights, required_gain, simplex_grid
from mmlego.train.outputs import load_model
from mmlego.train.run import train_run
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split
from tests.unit.test_merge import _batch, _block


def test_weighted_aggregation_of_two_modalities_by_hand():
    present = torch.ones(2, 1, dtype=torch.bool)
    w = block_weights(present, [0.25, 0.75])
    mags = torch.tensor([[2.0], [4.0]], dtype=torch.float64)
    # 1 / (0.25/2 + 0.75/4) = 1 / 0.3125
    assert aggregate_magnitude(mags, w).item() == pytest.approx(3.2, rel=1e-12)
    phases = torch.tensor([[0.0], [math.pi / 2]], dtype=torch.float64)
    # angle(0.25·1 + 0.75·i)
    assert aggregate_phase(phases, w).item() == pytest.approx(math.atan2(0.75, 0.25), rel=1e-12)
    # Heads: orthogonal vectors of norms 1 and 3 → SLERP at t = 0.75, norm 0.25·1 + 0.75·3.
    head = spherical_mean([torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])], [0.25, 0.75])
    angle = 0.75 * math.pi / 2
    assert torch.allclose(head, 2.5 * torch.tensor([math.cos(angle), math.sin(angle)]), atol=1e-6)


def test_weighted_aggregation_of_three_modalities_one_missing_by_hand():
    # Sample 0 has all three; sample 1 lacks the third, whose weight is renormalised away.
    present = torch.tensor([[True, True], [True, True], [True, False]])
    w = block_weights(present, [0.2, 0.3, 0.5])
    mags = torch.tensor([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]], dtype=torch.float64)
    got = aggregate_magnitude(mags, w)
    assert got[0].item() == pytest.approx(1 / (0.2 / 1 + 0.3 / 2 + 0.5 / 4), rel=1e-6)
    assert got[1].item() == pytest.approx(1 / (0.4 / 1 + 0.6 / 2), rel=1e-6)  # λ' = (0.4, 0.6)
    phases = torch.tensor([[0.0, 0.0], [math.pi / 2] * 2, [math.pi] * 2], dtype=torch.float64)
    got = aggregate_phase(phases, w)
    # angle(0.2 + 0.3i − 0.5) = angle(−0.3 + 0.3i) = 3π/4; without the third: angle(0.2 + 0.3i)
    assert got[0].item() == pytest.approx(3 * math.pi / 4, rel=1e-6)
    assert got[1].item() == pytest.approx(math.atan2(0.3, 0.2), rel=1e-6)
    # The weighted spherical mean of three directions is where the weighted log maps cancel.
    units = torch.eye(3, dtype=torch.float64)
    lam = [0.5, 0.3, 0.2]
    m = spherical_mean(list(units), lam)
    assert m.norm().item() == pytest.approx(1.0)
    theta = torch.arccos(units @ m)
    logs = (units - torch.cos(theta)[:, None] * m) * (theta / torch.sin(theta))[:, None]
    assert torch.allclose((torch.tensor(lam, dtype=torch.float64)[:, None] * logs).sum(0),
                          torch.zeros(3, dtype=torch.float64), atol=1e-9)  # fmt: skip
    assert m[0] > m[1] > m[2] > 0  # pulled towards the heaviest direction
    # The linear head merge is the weighted mean; a zero weight leaves that head out.
    heads = [{"w": torch.tensor([1.0])}, {"w": torch.tensor([2.0])}, {"w": torch.tensor([4.0])}]
    linear = merge_heads(heads, method="linear", weights=[0.2, 0.3, 0.5])["w"].item()
    assert linear == pytest.approx(0.2 + 0.6 + 2.0)
    assert merge_heads(heads, method="linear", weights=[0.0, 0.5, 0.5])["w"].item() == 3.0


def _three_blocks():
    blocks = {
        "tab": _block("tab", "vector", 5, 0),
        "img": _block("img", "bag", 4, 1),
        "ts": _block("ts", "series", 2, 2),
    }
    with torch.no_grad():  # trained heads differ; untrained ones share init_seed's draw
        blocks["img"].head.linear.weight.mul_(-0.5).add_(0.3)
        blocks["ts"].head.linear.bias.add_(0.7)
    return blocks


def _missing_batch():
    return _batch(
        tab_present=torch.tensor([True, True, False, True, True]),
        img_present=torch.tensor([True, False, True, False, True]),
    )


def test_the_model_renormalises_over_the_modalities_a_patient_has():
    blocks = _three_blocks()
    batch = _missing_batch()  # patient 1 lacks img
    three = LegoMergeAdaptive(blocks, weights={"tab": 0.2, "img": 0.5, "ts": 0.3}).eval()
    two = LegoMergeAdaptive(
        {m: blocks[m] for m in ("tab", "ts")}, weights={"tab": 0.4, "ts": 0.6}
    ).eval()
    with torch.no_grad():
        assert torch.allclose(three(batch)[1], two(batch)[1], atol=1e-5)
        assert not torch.allclose(three(batch)[0], two(batch)[0], atol=1e-3)


@pytest.mark.parametrize("head", ["slerp", "linear"])
def test_one_hot_weights_reproduce_that_block_exactly(head):
    blocks = _three_blocks()
    for modality in blocks:
        weights = {m: float(m == modality) for m in blocks}
        merged = LegoMergeAdaptive(blocks, weights=weights, head=head).eval()
        with torch.no_grad():
            assert torch.equal(merged(_batch()), blocks[modality](_batch()))
            assert torch.equal(merged.embed(_batch()), blocks[modality].embed(_batch()))
    # A patient without the chosen modality gets the equal-weight merge of what it has.
    merged = LegoMergeAdaptive(blocks, weights={"tab": 0.0, "img": 1.0, "ts": 0.0}, head=head)
    with torch.no_grad():
        got, equal = merged.eval()(_missing_batch()), LegoMerge(blocks, head=head).eval()
        assert torch.equal(got[[1, 3]], equal(_missing_batch())[[1, 3]])


@pytest.mark.parametrize("head", ["slerp", "linear"])
@pytest.mark.parametrize("magnitude", ["harmonic", "mean"])
def test_equal_weights_reproduce_lego_merge_exactly(head, magnitude):
    blocks = _three_blocks()
    options = {"head": head, "magnitude": magnitude}
    reference = LegoMerge(blocks, **options).eval()
    pair = {m: blocks[m] for m in ("tab", "img")}
    with torch.no_grad():
        for weights in (None, {m: 1 / 3 for m in blocks}, {m: 2.0 for m in blocks}):
            merged = LegoMergeAdaptive(blocks, weights=weights, **options).eval()
            for batch in (_batch(), _missing_batch()):
                assert torch.equal(merged(batch), reference(batch))
                assert torch.equal(merged.embed(batch), reference.embed(batch))
        halves = LegoMergeAdaptive(pair, weights={"tab": 0.5, "img": 0.5}, **options).eval()
        assert torch.equal(halves(_missing_batch()), LegoMerge(pair, **options)(_missing_batch()))


def test_bad_weights_and_unweighted_magnitudes_are_refused():
    blocks = _three_blocks()
    with pytest.raises(ValueError, match="one weight per block"):
        LegoMergeAdaptive(blocks, weights={"tab": 1.0})
    with pytest.raises(ValueError, match="≥ 0"):
        LegoMergeAdaptive(blocks, weights={"tab": -1.0, "img": 1.0, "ts": 1.0})
    with pytest.raises(ValueError, match=r"merge\.magnitude"):
        LegoMergeAdaptive(blocks, magnitude="max")


def test_the_grid_and_the_coordinate_search():
    assert len(simplex_grid(3, 0.1)) == 66 and len(simplex_grid(4, 0.1)) == 286
    assert all(math.isclose(sum(lam), 1.0) for lam in simplex_grid(3, 0.25))
    with pytest.raises(ValueError, match="must divide 1"):
        simplex_grid(3, 0.3)
    target = np.array([0.6, 0.0, 0.4])
    chosen, curve = choose_weights(lambda lam: -np.abs(np.array(lam) - target).sum(), 3,
                                   step=0.1, seed=0)  # fmt: skip
    assert np.allclose(chosen, target) and curve[0][0] == (1 / 3,) * 3
    assert len(curve) == 1 + 66  # equal weights are off the 0.1 grid of 3 modalities
    # Beyond 4 modalities: a seeded coordinate search, equal weights first; same seed, same path.
    target = np.array([0.5, 0.2, 0.1, 0.1, 0.1])

    def score(lam):
        return -float(((np.array(lam) - target) ** 2).sum())

    first = choose_weights(score, 5, step=0.1, seed=3)
    assert first == choose_weights(score, 5, step=0.1, seed=3)
    chosen, curve = first
    assert curve[0][0] == (0.2,) * 5 and math.isclose(sum(chosen), 1.0)
    assert score(chosen) > score((0.2,) * 5) and len(curve) < len(simplex_grid(5, 0.1))
    # Ties and undefined scores keep equal weights.
    assert choose_weights(lambda lam: math.nan, 2, step=0.5, seed=0)[0] == (0.5, 0.5)
    assert choose_weights(lambda lam: 1.0, 3, step=0.5, seed=0)[0] == (1 / 3,) * 3
    # A last-bit difference (0.8055555555555556 vs ...555) is a tie, not an improvement.
    assert choose_weights(lambda lam: 0.8055555555555555 + 1e-16 * (lam[0] != 0.5), 2,
                          step=0.5, seed=0)[0] == (0.5, 0.5)  # fmt: skip


def _trained_blocks(tmp_path, data):
    cfg = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 3}}
    paths = {}
    for modality in data.modalities:
        out = tmp_path / f"lego_block.{modality}"
        train_run(data, run=f"lego_block.{modality}", dataset="toy", split=0, cfg=cfg,
                  out_dir=out, provenance={})  # fmt: skip
        paths[modality] = out / "model.pt"
    return paths


def _run(data, paths, out_dir, step=0.25, margin=0.0):
    return adaptive_merge_run(
        data, block_paths=paths, cfg={"merge": {"adaptive": {"step": step, "margin": margin}}},
        dataset="toy", split=0, out_dir=out_dir, provenance={}, seed=1,
    )  # fmt: skip


def _with_labels_permuted(data, set_name, seed):
    """``data`` with the label rows of one set's patients shuffled among them."""
    labels = data.labels.copy()
    rows = np.flatnonzero(labels["patient_id"].isin(data.sets[set_name]))
    columns = [c for c in labels.columns if c != "patient_id"]
    shuffled = np.random.default_rng(seed).permutation(rows)
    labels.loc[rows, columns] = labels.loc[shuffled, columns].to_numpy()
    return dataclasses.replace(data, labels=labels)


def test_lambda_is_chosen_on_validation_without_reading_a_test_label(tmp_path):
    data = make_split("survival", n=90, absent={"img": [60, 61, 80]},
                      kinds=("vector", "bag", "series"))  # fmt: skip
    paths = _trained_blocks(tmp_path, data)
    merged = _run(data, paths, tmp_path / "adaptive")
    report = json.loads((tmp_path / "adaptive" / "lambda.json").read_text())
    assert report["metric"] == "c_index" and report["search"] == "grid"
    assert len(report["curve"]) == 1 + len(simplex_grid(3, 0.25))  # equal weights + 15 points
    assert report["curve"][0]["lambda"] == {m: pytest.approx(1 / 3) for m in data.modalities}
    assert report["val_metric"] == max(p["val_metric"] for p in report["curve"])
    assert report["val_metric"] >= report["equal_val_metric"]
    assert report["lambda"] == pytest.approx(merged.weights)
    # The checkpoint rebuilds the same weighted merge: its predictions are the run's.
    frame = read_predictions(tmp_path / "adaptive" / "predictions.parquet").frame
    assert sorted(frame["patient_id"]) == sorted(data.sets["val"] + data.sets["test"])
    assert load_model(tmp_path / "adaptive" / "model.pt").weights == merged.weights
    # Shuffled test labels leave λ and the whole curve unchanged; shuffled val labels do not.
    _run(_with_labels_permuted(data, "test", 0), paths, tmp_path / "test_shuffled")
    shuffled = json.loads((tmp_path / "test_shuffled" / "lambda.json").read_text())
    assert shuffled["curve"] == report["curve"] and shuffled["lambda"] == report["lambda"]
    _run(_with_labels_permuted(data, "val", 0), paths, tmp_path / "val_shuffled")
    val_shuffled = json.loads((tmp_path / "val_shuffled" / "lambda.json").read_text())
    assert val_shuffled["curve"] != report["curve"]


def test_the_job_takes_the_best_lambda_only_above_the_margin(tmp_path):
    # Here the best λ (a corner) beats equal weights on validation by about 0.05 AUC.
    data = make_split("binary", n=90, seed=1)
    paths = _trained_blocks(tmp_path, data)
    _run(data, paths, tmp_path / "argmax", step=0.25)
    report = json.loads((tmp_path / "argmax" / "lambda.json").read_text())
    gain = report["val_metric"] - report["equal_val_metric"]
    n_val = len(data.sets["val"])
    assert gain > 0.01 and report["n_val"] == n_val and report["required_gain"] == 0
    assert report["lambda"] == report["best_lambda"] != {m: 0.5 for m in data.modalities}
    # margin / √n_val just above the gain: equal weights are kept, and reproduce LegoMerge.
    above = gain * math.sqrt(n_val)
    _run(data, paths, tmp_path / "kept", margin=above * 1.01)
    kept = json.loads((tmp_path / "kept" / "lambda.json").read_text())
    assert kept["lambda"] == {m: 0.5 for m in data.modalities} and kept["margin"] == above * 1.01
    assert kept["val_metric"] == kept["equal_val_metric"] == report["equal_val_metric"]
    assert kept["best_lambda"] == report["lambda"] and kept["curve"] == report["curve"]
    assert kept["required_gain"] == pytest.approx(gain * 1.01)
    merge_run(data, block_paths=paths, cfg={"merge": {}}, dataset="toy", split=0,
              out_dir=tmp_path / "merge", provenance={})  # fmt: skip
    kept_preds = read_predictions(tmp_path / "kept" / "predictions.parquet")
    merged_frame = read_predictions(tmp_path / "merge" / "predictions.parquet").frame
    columns = ["patient_id", *kept_preds.columns("prob")]
    assert kept_preds.frame[columns].equals(merged_frame[columns])
    # Just below: the best λ is taken.
    _run(data, paths, tmp_path / "taken", margin=above * 0.99)
    taken = json.loads((tmp_path / "taken" / "lambda.json").read_text())
    assert taken["lambda"] == report["lambda"] == taken["best_lambda"]


def test_a_gain_below_the_margin_keeps_equal_weights():
    # Equal weights score 0.70; the best grid point (0.75, 0.25) scores 0.712.
    def score(lam):
        return 0.70 + 0.012 * (lam == (0.75, 0.25)) + 0.004 * (lam == (1.0, 0.0))

    assert required_gain(0.1, 100) == pytest.approx(0.01)
    assert required_gain(0.1, 25) == pytest.approx(0.02)
    # Without a margin the argmax; a gain of 0.012 clears 0.01 (100 patients), not 0.02 (25).
    assert choose_weights(score, 2, step=0.25, seed=0)[0] == (0.75, 0.25)
    assert choose_weights(score, 2, step=0.25, seed=0, gain=0.01)[0] == (0.75, 0.25)
    chosen, curve = choose_weights(score, 2, step=0.25, seed=0, gain=0.02)
    assert chosen == (0.5, 0.5) and len(curve) == 5
    # A gain exactly at the margin is not taken either; an undefined equal score always loses.
    assert choose_weights(score, 2, step=0.25, seed=0, gain=0.012)[0] == (0.5, 0.5)
    nan_equal = choose_weights(lambda lam: math.nan if lam == (0.5, 0.5) else lam[0], 2,
                               step=0.5, seed=0, gain=10.0)  # fmt: skip
    assert nan_equal[0] == (1.0, 0.0)
    with pytest.raises(ValueError, match=r"merge\.adaptive\.margin must be ≥ 0"):
        required_gain(-0.1, 10)


def test_a_step_that_does_not_divide_one_stops_before_any_output(tmp_path):
    data = make_split("binary", n=30)
    with pytest.raises(ValueError, match=r"merge\.adaptive\.step must divide 1"):
        _run(data, {"tab": tmp_path / "none.pt", "img": tmp_path / "none.pt"}, tmp_path / "o", 0.3)
    assert not (tmp_path / "o").exists()


def test_select_on_loss_scores_lambda_by_the_merged_heads_validation_loss(tmp_path):
    from mmlego.models.losses import TaskLoss
    from mmlego.models.merge import LegoMergeAdaptive
    from mmlego.train.combine import load_blocks
    from mmlego.train.data import PatientDataset
    from mmlego.train.merge_weights import set_score

    # By hand: two patients, one class-1 logit pair each; cross-entropy log(1 + e^-1) and
    # log(1 + e^0) averaged, negated; the metric (AUC) of the same logits is 1.
    logits = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    targets = {"label": torch.tensor([1, 0])}
    by_hand = -(math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert set_score("binary", "loss")(logits, targets) == pytest.approx(by_hand, abs=1e-6)
    assert set_score("binary", "metric")(logits, targets) == 1.0
    with pytest.raises(ValueError, match=r"select_on must be one of \('metric', 'loss'\)"):
        set_score("binary", "auc")

    data = make_split("binary", n=90, seed=1)
    paths = _trained_blocks(tmp_path, data)
    cfg = {"merge": {"adaptive": {"step": 0.25, "margin": 0.0, "select_on": "loss"}}}
    merged = adaptive_merge_run(data, block_paths=paths, cfg=cfg, dataset="toy", split=0,
                                out_dir=tmp_path / "loss", provenance={}, seed=1)  # fmt: skip
    report = json.loads((tmp_path / "loss" / "lambda.json").read_text())
    assert report["select_on"] == "loss" and report["metric"] == "neg_val_loss"
    # Every point of the curve is minus the validation cross-entropy of the model with that λ
    # (its own forward pass, not the scorer's cached latents); the chosen λ has the lowest.
    blocks, _, _ = load_blocks(paths, data)
    batch, target, _ = PatientDataset(data, data.sets["val"]).collate(range(len(data.sets["val"])))
    for point in report["curve"]:
        model = LegoMergeAdaptive(blocks, weights=point["lambda"]).eval()
        with torch.no_grad():
            loss = float(TaskLoss("binary")(model(batch), target))
        assert point["val_metric"] == pytest.approx(-loss, rel=1e-5)
    assert report["val_metric"] == max(p["val_metric"] for p in report["curve"])
    assert report["lambda"] == pytest.approx(merged.weights)
    # A bad value stops the job before any output.
    cfg["merge"]["adaptive"]["select_on"] = "auc"
    with pytest.raises(ValueError, match="select_on"):
        adaptive_merge_run(data, block_paths=paths, cfg=cfg, dataset="toy", split=0,
                           out_dir=tmp_path / "bad", provenance={}, seed=1)  # fmt: skip
    assert not (tmp_path / "bad").exists()
