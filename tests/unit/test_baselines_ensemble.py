"""The ensemble is exactly the mean of its members' probabilities or survival curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlego.data.kinds import Modality
from mmlego.models.baselines.ensemble import average_predictions, hazards_from_survival


def survival_member(hazards, ids=("p1", "p2", "p3")):
    hazards = np.asarray(hazards, dtype=float)
    surv = np.cumprod(1 - hazards, axis=1)
    frame = pd.DataFrame(
        {
            "patient_id": list(ids),
            "set": ["val", "test", "test"],
            "split": 0,
            "time": [1.0, 2.0, 3.0],
            "event": [1, 0, 1],
            "risk": -surv.sum(axis=1),
        }
    )
    for b in range(hazards.shape[1]):
        frame[f"hazard_{b}"] = hazards[:, b]
    for b in range(hazards.shape[1]):
        frame[f"surv_{b}"] = surv[:, b]
    return frame


def test_classification_ensemble_is_the_mean_of_probabilities():
    a = pd.DataFrame(
        {
            "patient_id": ["x", "y"],
            "set": ["test", "val"],
            "split": 2,
            "label": [1, 0],
            "prob_0": [0.2, 0.9],
            "prob_1": [0.8, 0.1],
        }
    )
    # the same rows in another order: the ensemble aligns on (patient_id, set)
    b = pd.DataFrame(
        {
            "patient_id": ["y", "x"],
            "set": ["val", "test"],
            "split": 2,
            "label": [0, 1],
            "prob_0": [0.5, 0.6],
            "prob_1": [0.5, 0.4],
        }
    )
    out = average_predictions({"snn.static": a, "abmil.vitals": b}, "binary").set_index(
        "patient_id"
    )
    assert out.loc["x", ["prob_0", "prob_1"]].tolist() == pytest.approx([0.4, 0.6])
    assert out.loc["y", ["prob_0", "prob_1"]].tolist() == pytest.approx([0.7, 0.3])
    assert out.loc["x", "label"] == 1 and out.loc["y", "set"] == "val"


def test_survival_ensemble_averages_curves_and_rederives_hazards_and_risk():
    a = survival_member([[0.1, 0.2], [0.5, 0.5], [0.0, 0.3]])
    b = survival_member([[0.3, 0.1], [0.2, 0.4], [0.6, 0.6]])
    c = survival_member([[0.2, 0.2], [0.1, 0.1], [0.1, 0.9]])
    out = average_predictions({"a": a, "b": b, "c": c}, "survival")
    surv = (
        a[["surv_0", "surv_1"]].to_numpy()
        + b[["surv_0", "surv_1"]].to_numpy()
        + c[["surv_0", "surv_1"]].to_numpy()
    ) / 3
    out = out.sort_values("patient_id")
    np.testing.assert_allclose(out[["surv_0", "surv_1"]].to_numpy(), surv)
    np.testing.assert_allclose(out["risk"], -surv.sum(axis=1))
    # the hazards reproduce the mean curve
    hazards = out[["hazard_0", "hazard_1"]].to_numpy()
    np.testing.assert_allclose(np.cumprod(1 - hazards, axis=1), surv)
    # p1: S = mean(0.9*0.8, 0.7*0.9, 0.8*0.8) after mean(0.9, 0.7, 0.8) = 0.8
    assert surv[0, 0] == pytest.approx(0.8)
    assert surv[0, 1] == pytest.approx((0.72 + 0.63 + 0.64) / 3)


def test_members_without_the_patients_modality_are_left_out_of_its_mean():
    a = survival_member([[0.1, 0.2], [0.5, 0.5], [0.0, 0.3]])
    b = survival_member([[0.3, 0.1], [0.2, 0.4], [0.6, 0.6]])
    present = {
        "a": {"p1": True, "p2": False, "p3": False},
        "b": {"p1": True, "p2": True, "p3": False},
    }
    out = average_predictions({"a": a, "b": b}, "survival", present).set_index("patient_id")
    surv = ["surv_0", "surv_1"]
    both = (a.set_index("patient_id")[surv] + b.set_index("patient_id")[surv]) / 2
    np.testing.assert_allclose(out.loc["p1", surv], both.loc["p1"])  # both members
    np.testing.assert_allclose(out.loc["p2", surv], b.set_index("patient_id").loc["p2", surv])
    np.testing.assert_allclose(out.loc["p3", surv], both.loc["p3"])  # none: every member


def test_hazards_of_a_curve_that_reaches_zero_stay_finite():
    hazards = hazards_from_survival(np.array([[0.5, 0.0, 0.0]]))
    assert np.isfinite(hazards).all()
    assert hazards.tolist() == [[0.5, 1.0, 1.0]]


def test_members_must_predict_the_same_patients_and_labels():
    a = survival_member([[0.1, 0.2]] * 3)
    other = survival_member([[0.1, 0.2]] * 3, ids=("p1", "p2", "p9"))
    with pytest.raises(ValueError, match=r"different \(patient_id, set\) rows"):
        average_predictions({"a": a, "b": other}, "survival")
    relabelled = a.assign(event=[0, 0, 0])
    with pytest.raises(ValueError, match="disagree on 'event'"):
        average_predictions({"a": a, "b": relabelled}, "survival")
    with pytest.raises(ValueError, match="at least 2"):
        average_predictions({"a": a}, "survival")
    three_bins = survival_member([[0.1, 0.2, 0.3]] * 3)
    with pytest.raises(ValueError, match="different surv_"):
        average_predictions({"a": a, "b": three_bins}, "survival")


def test_ensemble_command_writes_checked_predictions_with_metadata(tmp_path):
    from mmlego.cli import main
    from mmlego.data.store import ModalityData, write_modality
    from mmlego.predictions import read_predictions, write_predictions

    meta = {
        "task": "survival",
        "bins": [0.0, 2.0, float("inf")],
        "classes": None,
        "dataset": "tcga",
        "provenance": {},
    }
    members = {
        "snn.omics": survival_member([[0.1, 0.2], [0.5, 0.5], [0.0, 0.3]]),
        "abmil.slides": survival_member([[0.3, 0.1], [0.2, 0.4], [0.6, 0.6]]),
    }
    paths, stores = [], []  # as --member and --store values
    for run, frame in members.items():
        store = tmp_path / "tcga" / "modalities" / f"{run.split('.')[1]}.h5"
        present = [True, True, run == "snn.omics"]  # p3 has no slides
        ids = ["p1", "p2", "p3"]
        data = ModalityData(run, "vector", ids, present, np.zeros((3, 2), np.float32), ["f", "g"])
        write_modality(store, data, provenance={})
        stores.append(f"{run}={store}")
        path = tmp_path / "tcga" / run / "split0" / "predictions.parquet"
        path.parent.mkdir(parents=True)
        write_predictions(path, frame, {**meta, "run": run})
        paths.append(f"{run}={path}")
    out = tmp_path / "tcga" / "ensemble" / "split0" / "predictions.parquet"
    args = [
        "ensemble",
        *(arg for pair in paths for arg in ("--member", pair)),
        *(arg for pair in stores for arg in ("--store", pair)),
        "--run",
        "ensemble",
        "--dataset",
        "tcga",
        "--split",
        "0",
        "--cfg",
        "{}",
        "--seed",
        "0",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    preds = read_predictions(out)
    assert preds.meta["run"] == "ensemble" and preds.meta["members"] == list(members)
    assert preds.meta["bins"][:2] == [0.0, 2.0] and "provenance" in preds.meta
    expected = average_predictions(members, "survival").set_index("patient_id")
    got = preds.frame.set_index("patient_id")
    surv = ["surv_0", "surv_1"]
    np.testing.assert_allclose(got.loc[["p1", "p2"], surv], expected.loc[["p1", "p2"], surv])
    # p3 lacks the slides: only the omics member counts
    only = members["snn.omics"].set_index("patient_id").loc["p3", surv].to_numpy(float)
    np.testing.assert_allclose(got.loc["p3", surv].to_numpy(float), only)
    # a member of another split is refused, and nothing is written
    out.unlink()
    wrong = [*args[:-1], str(out)]
    wrong[wrong.index("--split") + 1] = "1"
    assert main(wrong) == 1 and not out.exists()


def test_lego_ensemble_is_the_hand_computed_mean_of_two_blocks(tmp_path):
    """lego_ensemble through its command: the mean of the blocks' probabilities (binary) and
    of their hazards (survival), never of the SNN/ABMIL runs."""
    from mmlego.cli import main
    from mmlego.data.store import ModalityData, write_modality
    from mmlego.models.catalogue import CATALOGUE, member_runs
    from mmlego.predictions import read_predictions, write_predictions

    mods = [Modality("static", "tabular"), Modality("vitals", "timeseries")]
    config = {"baselines": {"ensemble": {"members": ["snn", "abmil"]}}}
    assert member_runs(config, "lego_ensemble", mods) == ["lego_block.static", "lego_block.vitals"]
    assert CATALOGUE["lego_ensemble"].survival_mean == "hazards"
    assert CATALOGUE["ensemble"].survival_mean == "survival"

    def run(task, frames, meta):
        args = []
        for block, frame in frames.items():
            modality = block.split(".")[1]
            store = tmp_path / task / "modalities" / f"{modality}.h5"
            data = ModalityData(modality, "vector", list(frame["patient_id"]), [True] * len(frame),
                                np.zeros((len(frame), 1), np.float32), ["f"])  # fmt: skip
            write_modality(store, data, provenance={})
            path = tmp_path / task / block / "split0" / "predictions.parquet"
            path.parent.mkdir(parents=True)
            write_predictions(path, frame, {**meta, "run": block})
            args += ["--member", f"{block}={path}", "--store", f"{block}={store}"]
        out = tmp_path / task / "lego_ensemble" / "split0" / "predictions.parquet"
        argv = ["ensemble", *args, "--run", "lego_ensemble", "--survival-mean", "hazards",
                "--dataset", task, "--split", "0", "--cfg", "{}", "--seed", "0", "--out", str(out)]  # fmt: skip
        assert main(argv) == 0
        return read_predictions(out).frame.set_index("patient_id")

    ids = {"patient_id": ["x", "y"], "set": ["val", "test"], "split": 0, "label": [1, 0]}
    binary = run(
        "binary",
        {"lego_block.static": pd.DataFrame({**ids, "prob_0": [0.2, 0.9], "prob_1": [0.8, 0.1]}),
         "lego_block.vitals": pd.DataFrame({**ids, "prob_0": [0.6, 0.5], "prob_1": [0.4, 0.5]})},
        {"task": "binary", "classes": ["a", "b"], "dataset": "binary", "provenance": {}},
    )  # fmt: skip
    assert binary.loc["x", ["prob_0", "prob_1"]].tolist() == pytest.approx([0.4, 0.6])
    assert binary.loc["y", ["prob_0", "prob_1"]].tolist() == pytest.approx([0.7, 0.3])
    blocks = {
        "lego_block.static": survival_member([[0.1, 0.2], [0.5, 0.5], [0.0, 0.3]]),
        "lego_block.vitals": survival_member([[0.3, 0.4], [0.2, 0.1], [0.6, 0.6]]),
    }
    surv = run("survival", blocks, {"task": "survival", "bins": [0.0, 2.0, float("inf")],
                                    "classes": None, "dataset": "survival", "provenance": {}})  # fmt: skip
    # p1: hazards (0.1 + 0.3) / 2 = 0.2 and (0.2 + 0.4) / 2 = 0.3; S = 0.8, 0.8 * 0.7 = 0.56.
    assert surv.loc["p1", ["hazard_0", "hazard_1"]].tolist() == pytest.approx([0.2, 0.3])
    assert surv.loc["p1", ["surv_0", "surv_1"]].tolist() == pytest.approx([0.8, 0.56])
    assert surv.loc["p1", "risk"] == pytest.approx(-1.36)
    # p3: hazards 0.3 and 0.45; S = 0.7, 0.385; the SNN/ABMIL ensemble's mean of the curves
    # (1, 0.7) and (0.4, 0.16) would give 0.7, 0.43.
    assert surv.loc["p3", ["surv_0", "surv_1"]].tolist() == pytest.approx([0.7, 0.385])
    curves = average_predictions(blocks, "survival").set_index("patient_id")
    assert curves.loc["p3", ["surv_0", "surv_1"]].tolist() == pytest.approx([0.7, 0.43])
