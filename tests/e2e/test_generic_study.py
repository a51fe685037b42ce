"""The bring-your-own route end to end: a study written here, a real snakemake run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import yaml

from mmlego import layout
from mmlego.data.labels import read_labels
from mmlego.data.store import read_modality
from mmlego.data.transforms import SplitFiles, load_split
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
    root = str(ds_dir)
    stores = {m: layout.modality_store(root, m) for m in ("clinical", "labs")}
    files = SplitFiles(layout.labels(root), layout.splits(root), layout.transforms(root, 1), stores)
    data = load_split(files, 1)
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
    store = out / "mine" / "modalities" / "clinical.h5"
    result = run_snakemake(str(store), "--cores", "1", "--configfile", str(path))
    assert result.returncode != 0
    # The modality's own job fails (the labels, read by a job of their own, are fine).
    log = (out / "logs" / "mine" / "tables_clinical.log").read_text()
    assert "clinical.tsv" in log and "ghost" in log and "not in the labels" in log
    assert not store.exists() and not (out / "mine" / "qc" / "tables_clinical.csv").exists()
    assert ids  # the study was written


def _id_study(root) -> dict[str, list[str]]:
    """Two datasets: zero-padded text ids (CSV labels, parquet of strings) and integer ids
    (parquet of int64 labels, CSV table), each with a tabular modality carrying signal."""
    rng = np.random.default_rng(5)
    padded = [f"{i:04d}" for i in range(1, 21)]
    numbered = [7, 10, 100, *range(200, 217)]
    for name, ids, labels_file, table_file in (
        ("padded", padded, "labels.csv", "clinical.parquet"),
        ("numbered", numbered, "labels.parquet", "clinical.csv"),
    ):
        risk = rng.normal(size=len(ids))
        labels = pd.DataFrame(
            {"pid": ids, "months": np.exp(-risk) * 20 + 1, "dead": rng.integers(0, 2, len(ids))}
        )
        table = pd.DataFrame({"pid": ids, "marker": risk + 0.1 * rng.normal(size=len(ids))})
        for frame, file in ((labels, labels_file), (table, table_file)):
            path = root / name / file
            path.parent.mkdir(exist_ok=True)
            frame.to_csv(path, index=False) if file.endswith(".csv") else frame.to_parquet(path)
    return {"padded": padded, "numbered": [str(i) for i in numbered]}


def test_ids_as_written_reach_the_predictions(tmp_path):
    expected = _id_study(tmp_path)
    datasets = {
        name: {
            "kind": "generic",
            "task": "survival",
            "labels": {"path": str(tmp_path / name / labels), "id": "pid", "time": "months",
                       "event": "dead"},
            "modalities": {"clinical": {"type": "tabular", "path": str(tmp_path / name / table),
                                        "id": "pid"}},
        }
        for name, labels, table in (
            ("padded", "labels.csv", "clinical.parquet"),
            ("numbered", "labels.parquet", "clinical.csv"),
        )
    }  # fmt: skip
    config = {
        "output_dir": str(tmp_path / "out"),
        "device": "cpu",
        "splits": {"repeats": 1},
        "datasets": datasets,
        "models": ["lego_block"],
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "train": {"epochs": 2, "batch_size": 8, "patience": 2},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    targets = [
        str(out / ds / "lego_block.clinical" / "split0" / "predictions.parquet") for ds in datasets
    ]
    result = run_snakemake(*targets, "--cores", "2", "--configfile", str(tmp_path / "study.yaml"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for ds, ids in expected.items():
        labels, _ = read_labels(out / ds / "labels.parquet")
        # Text order ("10" < "100" < "200" < "7"), the same in the labels and the store.
        assert labels["patient_id"].tolist() == sorted(ids)
        assert read_modality(out / ds / "modalities" / "clinical.h5").ids.tolist() == sorted(ids)
        split = json.loads((out / ds / "splits.json").read_text())["splits"][0]
        assert sorted(split["train"] + split["val"] + split["test"]) == sorted(ids)
        predictions = pd.read_parquet(
            out / ds / "lego_block.clinical" / "split0" / "predictions.parquet"
        )
        assert predictions["patient_id"].map(type).eq(str).all()
        assert sorted(predictions["patient_id"]) == sorted(split["val"] + split["test"])
