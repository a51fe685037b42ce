"""Cached outputs are checked on read: a truncated h5, parquet or checkpoint (an interrupted
copy, a full disk) raises one error naming the file instead of returning partial data."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mmlego.data.labels import read_labels, write_labels
from mmlego.data.store import (
    ModalityData,
    read_modality,
    read_presence,
    read_provenance,
    write_modality,
)
from mmlego.predictions import read_predictions, write_predictions
from mmlego.preprocess.features_io import read_features, write_features
from mmlego.train.outputs import read_checkpoint, save_checkpoint


def _store(path: Path) -> None:
    rng = np.random.default_rng(0)
    data = ModalityData(
        name="omics",
        kind="vector",
        type="tabular",
        ids=np.array([f"p{i}" for i in range(200)]),
        present=np.ones(200, dtype=bool),
        values=rng.normal(size=(200, 64)).astype(np.float32),
        feature_names=[f"g{j}" for j in range(64)],
    )
    write_modality(path, data, provenance={"seed": 0})


def _labels(path: Path) -> None:
    frame = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(200)],
            "time": np.arange(1, 201.0),
            "event": [0, 1] * 100,
        }
    )
    write_labels(path, frame, "survival", provenance={"seed": 0})


def _predictions(path: Path) -> None:
    prob = np.random.default_rng(0).uniform(size=200)
    frame = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(200)],
            "set": ["val", "test"] * 100,
            "split": 0,
            "label": [0, 1] * 100,
            "prob_0": 1 - prob,
            "prob_1": prob,
        }
    )
    write_predictions(
        path, frame, {"task": "binary", "classes": ["no", "yes"], "run": "x", "dataset": "d"}
    )


def _features(path: Path) -> None:
    rng = np.random.default_rng(0)
    coords = np.stack([np.arange(300), np.arange(300)], axis=1)
    write_features(path, rng.normal(size=(300, 32)), coords, attrs={}, provenance={"seed": 0})


def _checkpoint(path: Path) -> None:
    model = torch.nn.Linear(64, 4)
    save_checkpoint(
        path,
        model,
        name="snn",
        hparams={},
        modalities={"omics": ("vector", 64)},
        n_out=4,
        task="survival",
    )


FILES: dict[str, tuple[Callable[[Path], None], Callable[[Path], object], str]] = {
    "modality store": (_store, read_modality, "x.h5"),
    "store presence": (_store, read_presence, "x.h5"),
    "store provenance": (_store, read_provenance, "x.h5"),
    "labels": (_labels, read_labels, "labels.parquet"),
    "predictions": (_predictions, read_predictions, "predictions.parquet"),
    "patch features": (_features, read_features, "slide.h5"),
    "checkpoint": (_checkpoint, read_checkpoint, "model.pt"),
}


@pytest.mark.parametrize("kind", list(FILES))
@pytest.mark.parametrize(
    "keep", [0.0, 0.1, 0.5, 0.9, -1], ids=["empty", "10%", "50%", "90%", "minus-1-byte"]
)
def test_truncated_cached_file_is_refused_naming_it(tmp_path, kind, keep):
    write, read, name = FILES[kind]
    path = tmp_path / name
    write(path)
    read(path)  # the intact file reads
    data = path.read_bytes()
    path.write_bytes(data[:-1] if keep == -1 else data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        read(path)


@pytest.mark.parametrize("kind", list(FILES))
def test_missing_cached_file_is_named(tmp_path, kind):
    _, read, name = FILES[kind]
    path = tmp_path / name
    with pytest.raises((ValueError, FileNotFoundError), match=re.escape(str(path))):
        read(path)
