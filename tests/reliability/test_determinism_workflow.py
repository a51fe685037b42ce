"""Determinism of a whole study through real snakemake runs on CPU: a fresh run with another
seed than the finished tiny study's changes the splits, the photo features and the
predictions. (That one seed gives identical splits, features, predictions and metrics is
shown by the kill tests of test_faults.py, whose reruns remake them from scratch.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmlego.data.store import read_modality
from tests.reliability.study import (
    DATASET,
    results,
    run,
    target,
    write_study,
)

pytestmark = pytest.mark.slow
RUNS = ["lego_block.clinical"]


def _fresh_run(root):
    result = run(root, targets=[target(r) for r in RUNS])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def test_another_seed_gives_other_splits_features_and_predictions(base_study, tmp_path):
    other = _fresh_run(write_study(tmp_path / "other", seed=1))
    splits, other_splits = (
        json.loads((r / "out" / DATASET / "splits.json").read_text())["splits"]
        for r in (base_study, other)
    )
    assert splits != other_splits
    photos, other_photos = (
        read_modality(r / "out" / DATASET / "modalities/photos.h5") for r in (base_study, other)
    )
    assert not np.allclose(other_photos.values, photos.values)  # the encoder's seeded init
    a, b = (
        results(r, RUNS)[f"{RUNS[0]}/predictions"].set_index("patient_id")
        for r in (base_study, other)
    )
    common = a.index.intersection(b.index)
    assert len(common) > 0
    assert not np.allclose(a.loc[common, "prob_1"], b.loc[common, "prob_1"])
