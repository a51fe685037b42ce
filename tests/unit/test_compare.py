"""The output comparison of the SLURM test: timings and provenance aside, any change fails it."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from tests.e2e.compare import assert_same_outputs


def _tree(root, *, value=1.0, created="2026-01-01T00:00:00", extra=False):
    (root / "ds" / "logs").mkdir(parents=True)
    (root / "ds" / "logs" / "x.log").write_text(created)  # logs are never compared
    (root / "ds" / "m.json").write_text(
        json.dumps({"test": {"c_index": value}, "provenance": {"created_utc": created}})
    )
    pd.DataFrame(
        {"patient_id": ["a", "b"], "risk": [value, 2.0], "seconds": [created, "x"]}
    ).to_parquet(root / "ds" / "p.parquet")
    with h5py.File(root / "ds" / "s.h5", "w") as h5:
        h5["x"] = np.array([value, 3.0])
        h5.attrs["provenance"] = created
    if extra:
        (root / "ds" / "extra.txt").write_text("x")
    return root


def test_equal_outputs_with_different_provenance_and_timings_match(tmp_path):
    a = _tree(tmp_path / "a")
    b = _tree(tmp_path / "b", created="2026-02-02T00:00:00", value=1.0 + 1e-9)
    assert_same_outputs(a, b)


@pytest.mark.parametrize("change", [{"value": 1.01}, {"extra": True}])
def test_a_changed_value_or_an_extra_file_fails(tmp_path, change):
    a = _tree(tmp_path / "a")
    b = _tree(tmp_path / "b", **change)
    with pytest.raises(AssertionError):
        assert_same_outputs(a, b)
