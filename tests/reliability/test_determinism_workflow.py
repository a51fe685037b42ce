"""Determinism of a whole study through real snakemake runs on CPU: a fresh run with the seed
of the finished tiny study gives identical splits, photo features, predictions and metrics;
another seed changes the splits and the predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmlego.data.store import read_modality
from tests.reliability.study import (
    DATASET,
    assert_same_results,
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


def test_one_seed_gives_one_study_another_seed_another(base_study, tmp_path):
    same = _fresh_run(write_study(tmp_path / "same", seed=0))
    assert_same_results(results(same, RUNS), results(base_study, RUNS))
    photos, base_photos = (
        read_modality(r / "out" / DATASET / "modalities/photos.h5") for r in (same, base_study)
    )
    np.testing.assert_array_equal(photos.values, base_photos.values)

    other = _fresh_run(write_study(tmp_path / "other", seed=1))
    splits, other_splits = (
        json.loads((r / "out" / DATASET / "splits.json").read_text())["splits"]
        for r in (base_study, other)
    )
    assert splits != other_splits
    a, b = (
        results(r, RUNS)[f"{RUNS[0]}/predictions"].set_index("patient_id")
        for r in (base_study, other)
    )
    common = a.index.intersection(b.index)
    assert len(common) > 0
    assert not np.allclose(a.loc[common, "prob_1"], b.loc[common, "prob_1"])
    other_photos = read_modality(other / "out" / DATASET / "modalities/photos.h5")
    assert not np.allclose(other_photos.values, base_photos.values)  # the encoder's seeded init
