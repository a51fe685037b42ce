"""The setup differences listed under paper_comparison.md, read from the study's config."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from mmlego.config import load_config
from mmlego.evaluate.paper_setup import setup_differences
from mmlego.evaluate.table_files import write_paper_comparison

KEYS = ("lego", "encoder", "tune", "train", "splits")


@pytest.fixture(scope="module")
def demo_setup():
    config = load_config("config/config.yaml")
    return {key: config[key] for key in KEYS}


def _line(notes, start):
    matches = [n for n in notes if n.startswith(start)]
    assert len(matches) == 1, notes
    return matches[0]


def test_differences_state_the_configs_values(demo_setup):
    setup = copy.deepcopy(demo_setup)
    setup["lego"].update(dim_head=16, dropout=0.25, encoder="none")
    setup["splits"] = {"scheme": "holdout", "repeats": 3, "train": 0.6, "val": 0.2, "test": 0.2}
    notes = setup_differences(setup)
    assert "dim_head = 16" in _line(notes, "Attention head width")
    assert "hard-codes 64" in _line(notes, "Attention head width")
    assert _line(notes, "LegoBlock dropout").startswith("LegoBlock dropout 0.25;")
    assert "none (raw inputs as context)" in _line(notes, "LegoBlock encoders").split(";")[0]
    assert "0.6/0.2/0.2 × 3 repeats" in _line(notes, "Splits")
    assert "ddof = 1" in _line(notes, "±")


def test_patch_encoder_line_only_without_weights(demo_setup):
    setup = copy.deepcopy(demo_setup)
    setup["encoder"]["weights"] = None
    assert any(n.startswith("Patch encoder: random") for n in setup_differences(setup))
    setup["encoder"]["weights"] = "weights/kather.pt"
    assert not any(n.startswith("Patch encoder") for n in setup_differences(setup))


def test_sweep_line_follows_tune_trials(demo_setup):
    setup = copy.deepcopy(demo_setup)
    setup["tune"]["trials"] = 0
    setup["train"].update(lr=3e-4, epochs=12)
    assert "lr 0.0003" in _line(setup_differences(setup), "No hyperparameter sweep")
    assert "up to 12 epochs" in _line(setup_differences(setup), "No hyperparameter sweep")
    setup["tune"]["trials"] = 30
    assert _line(setup_differences(setup), "Hyperparameters").startswith(
        "Hyperparameters: 30 Optuna trials"
    )


def test_paper_comparison_md_lists_the_differences_under_the_table(tmp_path, demo_setup):
    table2 = tmp_path / "table2.csv"
    pd.DataFrame([{"row": "LegoMerge", "dataset": "icd9", "mean": 0.7, "std": 0.01}]).to_csv(
        table2, index=False
    )
    out_md = tmp_path / "paper_comparison.md"
    write_paper_comparison(table2, tmp_path / "paper_comparison.csv", out_md, demo_setup)
    text = out_md.read_text()
    table_end = max(i for i, line in enumerate(text.splitlines()) if line.startswith("|"))
    below = text.splitlines()[table_end + 1 :]
    bullets = [line[2:] for line in below if line.startswith("- ")]
    assert bullets == setup_differences(demo_setup)
