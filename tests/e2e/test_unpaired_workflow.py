"""A real snakemake run of the unpaired-data study (Fig. 6) on a tiny generated MIMIC-like study:
demo MIMIC tables -> extraction -> splits -> sets -> blocks, merge, ensemble -> table and figure."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from mmlego.data.labels import read_labels
from mmlego.data.store import read_presence
from mmlego.evaluate.score import nan_to_null, score_predictions
from mmlego.predictions import read_predictions, read_split_sets
from tests.conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow

OVERLAPS = [0.0, 0.5, 1.0]


def _study(tmp_path):
    out = tmp_path / "out"
    config = {
        "output_dir": str(out),
        "device": "cpu",
        "demo": {"enabled": True, "mimic_stays": 150},
        "splits": {"repeats": 2},
        "models": ["lego_block", "lego_merge"],
        "datasets": {
            "icd9": {
                "kind": "mimic",
                "task": "binary",
                "mimic_dir": str(out / "raw" / "mimic-iii"),
                "target": "icd9",
            }
        },
        "lego": {"latent_len": 4, "latent_dim": 8, "depth": 1, "heads": 2, "dim_head": 4,
                 "encoder_dim": 8},
        "train": {"epochs": 3, "batch_size": 16, "lr": 3.0e-3, "patience": 3},
        "evaluate": {"unpaired": {"enabled": True, "dataset": "icd9", "overlaps": OVERLAPS}},
    }  # fmt: skip
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, out


def test_unpaired_study_runs_end_to_end(tmp_path):
    config, out = _study(tmp_path)
    figure = out / "figures" / "fig6_unpaired.png"
    result = run_snakemake(str(figure), "--cores", "2", "--configfile", str(config), cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert figure.stat().st_size > 10_000 and (out / "figures" / "fig6_unpaired.pdf").exists()

    ds = out / "icd9"
    splits = json.loads((ds / "splits.json").read_text())["splits"]
    sets = json.loads((ds / "unpaired" / "sets.json").read_text())
    presence = {m: read_presence(ds / "modalities" / f"{m}.h5") for m in ("static", "vitals")}
    assert sets["modalities"] == ["static", "vitals"] and sets["provenance"]["seed"] == 0
    table = pd.read_csv(out / "tables" / "unpaired.csv")
    for k, (split, plan) in enumerate(zip(splits, sets["splits"], strict=True)):
        assert set(plan["test"]) <= set(split["test"])
        assert all(presence["static"][i] and presence["vitals"][i] for i in plan["test"])
        static_predictions = []
        for entry in plan["blocks"]:
            for ids in entry["sets"].values():
                assert set(ids) <= set(split["train"]) and len(ids) == plan["set_size"]
            root = ds / "unpaired" / f"overlap{entry['tag']}"
            merged = pd.read_parquet(root / "lego_merge" / f"split{k}" / "predictions.parquet")
            assert sorted(merged.loc[merged["set"] == "test", "patient_id"]) == sorted(plan["test"])
            assert sorted(merged.loc[merged["set"] == "val", "patient_id"]) == sorted(split["val"])
            static_predictions.append(
                pd.read_parquet(root / "lego_block.static" / f"split{k}" / "predictions.parquet")
            )
            # The table holds what each metrics.json says.
            for run in ("lego_merge", "ensemble", "lego_block.vitals"):
                doc = json.loads((root / run / f"split{k}" / "metrics.json").read_text())
                row = table[
                    (table["run"] == run) & (table["split"] == k)
                    & (table["overlap"] == entry["overlap"]) & (table["set"] == "test")
                    & (table["metric"] == "auc")
                ]  # fmt: skip
                assert len(row) == 1 and doc["n"]["test"] == len(plan["test"])
                assert row["value"].iloc[0] == pytest.approx(doc["test"]["auc"], nan_ok=True)
                assert row["realized_overlap"].iloc[0] == pytest.approx(entry["realized_overlap"])
        # sets.json reads as a splits.json: `mmlego metrics --splits` would score the same.
        predictions = read_predictions(root / "lego_merge" / f"split{k}" / "predictions.parquet")
        rescored = score_predictions(
            predictions, read_labels(ds / "labels.parquet")[0],
            read_split_sets(ds / "unpaired" / "sets.json", k), k,
        )  # fmt: skip
        doc = json.loads((root / "lego_merge" / f"split{k}" / "metrics.json").read_text())
        assert nan_to_null(rescored)["test"] == doc["test"]
        # The first block keeps its patients at every overlap: trained once, same predictions.
        for other in static_predictions[1:]:
            pd.testing.assert_frame_equal(other, static_predictions[0])
    assert sorted(table["overlap"].unique()) == OVERLAPS
    assert set(table["run"]) == {"lego_block.static", "lego_block.vitals", "lego_merge", "ensemble"}
    assert table.groupby("overlap")["set_size"].nunique().eq(1).all()
    log = (out / "logs" / "unpaired" / "split1.log").read_text()
    assert "overlap 1.00 (realised 1.000) lego_merge" in log and "fontTools" not in log
