"""Leakage guards through real snakemake runs of the tiny study: a patient in two sets of a
split stops the run before any model sees it, and the train job's model selection never
reads the test labels (flipping them changes no weight, no val metric, no chosen epoch)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mmlego.data.splits import read_splits
from tests.reliability.study import DATASET, run, target, text

pytestmark = pytest.mark.slow
RUN = "lego_block.clinical"


def test_a_patient_in_two_sets_stops_the_run_naming_the_patient(study_copy):
    root = study_copy
    path = root / "out" / DATASET / "splits.json"
    doc = json.loads(path.read_text())
    leaked = doc["splits"][0]["test"][0]
    doc["splits"][0]["train"].append(leaked)
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f"patient {leaked} is in both train and test of split 0"):
        read_splits(path)

    model = root / target(RUN, "model.pt")
    before = model.stat().st_mtime_ns
    failed = run(root, "--retries", "0", targets=[target(RUN)])
    assert failed.returncode != 0
    # The first job to read the splits: the run's modality transforms.
    log = text(root / "out/logs" / DATASET / "transforms" / f"{RUN.split('.')[1]}.log")
    assert f"patient {leaked} is in both train and test of split 0" in log, log[-2000:]
    assert model.stat().st_mtime_ns == before  # nothing was trained on the leaky split


def _flip_test_labels(path, test_ids) -> None:
    """Flip the test patients' labels in place, keeping the file's metadata and mtime."""
    stat = path.stat()
    table = pq.read_table(path)
    frame = table.to_pandas()
    rows = frame["patient_id"].isin(test_ids)
    frame.loc[rows, "label"] = 1 - frame.loc[rows, "label"]
    flipped = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(flipped.replace_schema_metadata(table.schema.metadata), path)
    # Same time stamp: snakemake keeps the splits and transforms made from the true labels.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_flipping_the_test_labels_changes_no_model_selection(base_study, study_copy):
    root = study_copy
    ds = root / "out" / DATASET
    split = json.loads((ds / "splits.json").read_text())["splits"][0]
    _flip_test_labels(ds / "labels.parquet", split["test"])
    labels = pd.read_parquet(ds / "labels.parquet").set_index("patient_id")["label"]
    true = pd.read_parquet(base_study / "out" / DATASET / "labels.parquet")
    true = true.set_index("patient_id")["label"]
    assert (labels[split["test"]] != true[split["test"]]).all()

    model = root / target(RUN, "model.pt")
    before = model.stat().st_mtime_ns
    retrained = run(root, "--forcerun", "train", targets=[target(RUN, "predictions.parquet")])
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert model.stat().st_mtime_ns != before  # the job did run again
    columns = ["epoch", "train_loss", "val_loss", "val_metric"]
    log, base_log = (
        pd.read_csv(r / "out" / DATASET / RUN / "split0/train_log.csv")[columns]
        for r in (root, base_study)
    )
    pd.testing.assert_frame_equal(log, base_log, check_exact=True)
    weights, base_weights = (
        torch.load(r / target(RUN, "model.pt"), weights_only=True)["state_dict"]
        for r in (root, base_study)
    )
    assert weights.keys() == base_weights.keys()
    assert all(torch.equal(weights[k], base_weights[k]) for k in weights)
    predictions, base_predictions = (
        pd.read_parquet(r / target(RUN, "predictions.parquet")) for r in (root, base_study)
    )
    # The same scores for every patient; only the test rows' copy of the label differs.
    pd.testing.assert_frame_equal(
        predictions.drop(columns="label"), base_predictions.drop(columns="label"), check_exact=True
    )
    val = predictions["set"] == "val"
    assert predictions.loc[val, "label"].equals(base_predictions.loc[val, "label"])
