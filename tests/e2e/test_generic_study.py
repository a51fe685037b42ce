"""The bring-your-own route end to end: a study written here, a real snakemake run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import yaml

from mmlego.data.labels import read_labels
from mmlego.data.prepare import load_split
from mmlego.data.store import read_modality
from tests.conftest import run_snakemake

N = 24


def _study(root):
    """Survival labels, a clinical table (numeric + categorical) and long-format labs."""
    rng = np.random.default_rng(3)
    ids = [f"pt/{i:02d}" if i == 5 else f"pt{i:02d}" for i in range(N)]  # one id with a '/'
    pd.DataFrame(
        {"pid": ids, "months": rng.uniform(1, 60, N).round(2), "dead": rng.integers(0, 2, N)}
    ).to_csv(root / "labels.csv", index=False)
    clinical = pd.DataFrame(
        {
            "pid": ids[:-2],
            "age": rng.normal(60, 10, N - 2),
            "stage": rng.choice(["I", "II", "III"], N - 2),
        }
    )
    clinical.to_csv(root / "clinical.tsv", sep="\t", index=False)
    rows = []
    for pid in ids[2:]:
        for day in rng.uniform(-400, 10, 12):  # irregular, some outside [-365, 0]
            rows.append((pid, day, "crp", rng.normal(5, 2)))
            rows.append((pid, day + 0.5, "hb", rng.normal(13, 1)))
    rows.append((ids[3], -10.0, "crp", 3.0))  # guarantees ids[3] a value inside the window
    pd.DataFrame(rows, columns=["pid", "day", "test", "value"]).to_parquet(root / "labs.parquet")
    return ids


def _config(tmp_path, out, *, labs: bool) -> dict:
    """The study config of ``_study``'s files: clinical table, and the labs series if ``labs``."""
    modalities = {
        "clinical": {"type": "tabular", "path": str(tmp_path / "clinical.tsv"), "id": "pid"}
    }
    if labs:
        modalities["labs"] = {
            "type": "timeseries",
            "path": str(tmp_path / "labs.parquet"),
            "id": "pid",
            "time": "day",
            "variable": "test",
            "value": "value",
            "window": [-365, 0],
            "bins": 4,
            "no_rows_in_window": "absent",
        }
    labels = {"path": str(tmp_path / "labels.csv"), "id": "pid", "time": "months", "event": "dead"}
    return {
        "output_dir": str(out),
        "models": ["lego_block"],
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "survival",
                "labels": labels,
                "modalities": modalities,
            }
        },
    }


def test_generic_survival_study_end_to_end(tmp_path):
    ids = _study(tmp_path)
    out = tmp_path / "out"
    config = {**_config(tmp_path, out, labs=True), "splits": {"repeats": 2}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    ds_dir = out / "mine"
    targets = [str(ds_dir / "transforms" / f"split{k}.json") for k in range(2)]
    result = run_snakemake(*targets, "--cores", "1", "--configfile", str(path))
    assert result.returncode == 0, result.stdout + result.stderr

    labels, meta = read_labels(ds_dir / "labels.parquet")
    assert sorted(labels["patient_id"]) == sorted(ids) and meta["task"] == "survival"
    clinical = read_modality(ds_dir / "modalities" / "clinical.h5")
    assert clinical.ids.tolist() == labels["patient_id"].tolist()
    assert clinical.present.sum() == N - 2 and clinical.categorical_names == ["stage"]
    labs = read_modality(ds_dir / "modalities" / "labs.h5")
    assert labs.values.shape == (N, 4, 2) and labs.feature_names == ["crp", "hb"]
    assert not labs.present[labels["patient_id"].isin(ids[:2]).to_numpy()].any()
    splits = json.loads((ds_dir / "splits.json").read_text())
    assert splits["repeats"] == 2 and "provenance" in splits
    data = load_split(ds_dir, 1)
    assert data.n_out == 4 and len(data.bins) == 5
    assert data.modalities["clinical"].feature_names[-3:] == ["stage=I", "stage=II", "stage=III"]
    assert all(np.isfinite(m.values).all() for m in data.modalities.values())

    # A rerun is a no-op: everything is cached.
    again = run_snakemake(*targets, "--cores", "1", "--configfile", str(path), "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_generic_bad_input_names_file_and_ids(tmp_path):
    ids = _study(tmp_path)
    extra = pd.read_csv(tmp_path / "clinical.tsv", sep="\t")
    extra.loc[len(extra)] = ["ghost", 50.0, "I"]
    extra.to_csv(tmp_path / "clinical.tsv", sep="\t", index=False)
    out = tmp_path / "out"
    config = _config(tmp_path, out, labs=False)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(
        str(out / "mine" / "labels.parquet"), "--cores", "1", "--configfile", str(path)
    )
    assert result.returncode != 0
    log = (out / "logs" / "mine" / "tables.log").read_text()
    assert "clinical.tsv" in log and "ghost" in log and "not in the labels" in log
    assert not (out / "mine" / "labels.parquet").exists()
    assert ids  # the study was written
