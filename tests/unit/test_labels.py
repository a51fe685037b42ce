"""Label tables: checked on write, with errors that name the file and the patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlego.data.labels import read_labels, write_labels
from mmlego.utils.provenance import has_provenance, provenance


def test_survival_round_trip(tmp_path):
    frame = pd.DataFrame({"patient_id": ["a", "b"], "time": [3.5, 10], "event": [1, 0]})
    write_labels(tmp_path / "labels.parquet", frame, "survival", provenance=provenance(None))
    back, meta = read_labels(tmp_path / "labels.parquet")
    assert back["time"].tolist() == [3.5, 10.0] and back["event"].tolist() == [1, 0]
    assert meta["task"] == "survival" and has_provenance(meta["provenance"])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("time", np.nan, "zero or negative for patients b"),
        ("time", -1.0, "zero or negative for patients b"),
        ("event", 2, "event must be 0"),
    ],
)
def test_bad_survival_labels_name_the_patient(tmp_path, column, value, message):
    frame = pd.DataFrame({"patient_id": ["a", "b"], "time": [3.0, 4.0], "event": [1, 0]})
    frame.loc[1, column] = value
    with pytest.raises(ValueError, match=message):
        write_labels(tmp_path / "l.parquet", frame, "survival", provenance={})
    assert not (tmp_path / "l.parquet").exists()


def test_duplicate_ids_and_nan_labels_are_refused(tmp_path):
    dupes = pd.DataFrame({"patient_id": ["a", "a"], "label": [0, 1]})
    with pytest.raises(ValueError, match="duplicate patient ids: a, a"):
        write_labels(tmp_path / "l.parquet", dupes, "binary", provenance={})
    nan = pd.DataFrame({"patient_id": ["a", "b"], "label": [0, None]})
    with pytest.raises(ValueError, match="patients b"):
        write_labels(tmp_path / "l.parquet", nan, "binary", provenance={})
