"""Determinism through real snakemake runs of the stages on main: the demo generator and the
MIMIC extraction give identical files for one seed, and a different seed changes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mmlego.data.labels import read_labels
from mmlego.data.store import read_modality
from tests.conftest import run_snakemake

DEMO = {"enabled": True, "mimic_stays": 40, "mimic_chart_hours": 30}


def _run(tmp_path: Path, name: str, seed: int, *, generate_only: bool = False) -> Path:
    out = tmp_path / name
    config = {
        "output_dir": str(out),
        "seed": seed,
        "demo": DEMO,
        "models": ["lego_block"],
        "datasets": {
            "mort": {
                "kind": "mimic",
                "task": "multiclass",
                "target": "mortality",
                "mimic_dir": str(out / "raw/mimic-iii"),
            }
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = [
        str(out / "mort" / f)
        for f in ("labels.parquet", "modalities/vitals.h5", "modalities/static.h5")
    ]
    result = run_snakemake(*targets, "--cores", "1", "--configfile", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("determinism")
    # The extraction takes no seed, so the other seed's run stops after the generator.
    return {
        "a": _run(tmp, "a", 0),
        "b": _run(tmp, "b", 0),
        "c": _run(tmp, "c", 1, generate_only=True),
    }


def _raw_tables(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "raw/mimic-iii").glob("*.csv"))}


def _outputs(out: Path) -> tuple[pd.DataFrame, list[np.ndarray]]:
    labels, _ = read_labels(out / "mort/labels.parquet")
    arrays = []
    for mod in ("vitals", "static"):
        data = read_modality(out / f"mort/modalities/{mod}.h5")
        arrays += [data.ids.astype(str), data.present, data.values]
        if data.mask is not None:
            arrays.append(data.mask)
    return labels, arrays


def test_same_seed_gives_identical_raw_data_and_stores(runs):
    assert _raw_tables(runs["a"]) == _raw_tables(runs["b"])
    labels_a, arrays_a = _outputs(runs["a"])
    labels_b, arrays_b = _outputs(runs["b"])
    pd.testing.assert_frame_equal(labels_a, labels_b)
    for x, y in zip(arrays_a, arrays_b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_another_seed_changes_them(runs):
    raw_a, raw_c = _raw_tables(runs["a"]), _raw_tables(runs["c"])
    assert raw_a.keys() == raw_c.keys()
    changed = [name for name in raw_a if raw_a[name] != raw_c[name]]
    assert {"CHARTEVENTS.csv", "ICUSTAYS.csv", "PATIENTS.csv"} <= set(changed)
