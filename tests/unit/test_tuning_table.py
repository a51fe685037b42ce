"""tables/tuning.{csv,md}: one row per tuning.json with its chosen values, trials and best
validation score; a broken file is named. (The workflow test checks the table against the
tuning.json files of a real tuned run: tests/reliability/test_tuning_workflow.py.)"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mmlego.config import fill_defaults
from mmlego.evaluate.tuning_table import tuning_markdown, tuning_table, write_tuning_table
from mmlego.models.catalogue import model_keys
from mmlego.train.tuning import tuned_models
from tests.markdown_tables import table_count, table_problems


def _payload(stage, runs, split, trials, chosen, monitor="c_index"):
    return {
        "stage": stage,
        "runs": runs,
        "split": split,
        "objective": {
            "direction": "maximize",
            "set": "val",
            "monitor": dict.fromkeys(runs, monitor),
        },
        "trials_requested": len(trials),
        "trials": [{"number": i, "state": s} for i, s in enumerate(trials)],
        "chosen": chosen,
    }


SHARED = _payload(
    "shared", ["lego_block.a", "lego_block.b"], 1, ["COMPLETE", "COMPLETE"],
    {"trial": 1, "value": 0.625, "params": {"lego.latent_len": 32}},
)  # fmt: skip
BLOCK = _payload(
    "run", ["lego_block.a"], 1, ["COMPLETE", "PRUNED", "COMPLETE"],
    {"trial": 2, "value": 0.7, "params": {"lego.latent_len": 32, "train.lr": 0.00123456}},
)  # fmt: skip


def _write(tmp_path, name, payload):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(payload))
    return path


def test_rows_hold_each_files_trials_score_and_chosen_values(tmp_path):
    files = [("d", _write(tmp_path, "block", BLOCK)), ("d", _write(tmp_path, "shared", SHARED))]
    table = tuning_table(files)
    # The shared stage first (its value is fixed in the block's row), then the runs.
    assert table[["run", "stage", "split"]].values.tolist() == [
        ["lego_block", "shared", 1],
        ["lego_block.a", "run", 1],
    ]
    shared, block = table.to_dict("records")
    assert (shared["trials_run"], shared["complete"], shared["pruned"]) == (2, 2, 0)
    assert (block["trials_run"], block["complete"], block["pruned"]) == (3, 2, 1)
    assert (block["chosen_trial"], block["best_val"], block["train.lr"]) == (2, 0.7, 0.00123456)
    assert shared["monitor"] == "mean c_index" and block["monitor"] == "c_index"
    assert block["lego.latent_len"] == shared["lego.latent_len"] == 32
    assert pd.isna(shared["train.lr"])  # the shared stage does not tune the learning rate

    text = tuning_markdown(table)
    assert table_problems(text) == [] and table_count(text) == 1
    assert "| d | lego_block (shared) | 1 | 2 (2/0) | 0.625 | 32 | – |" in text
    assert "| d | lego_block.a | 1 | 3 (2/1) | 0.7 | 32 | 0.001235 |" in text


def test_the_files_are_written_and_the_csv_reads_back(tmp_path):
    write_tuning_table([("d", _write(tmp_path, "block", BLOCK))], tmp_path / "tables")
    back = pd.read_csv(tmp_path / "tables" / "tuning.csv")
    assert back.loc[0, "train.lr"] == pytest.approx(0.00123456)
    assert (tmp_path / "tables" / "tuning.md").read_text().count("| d |") == 1


def test_a_broken_tuning_json_is_named_with_what_is_missing(tmp_path):
    broken = {key: value for key, value in BLOCK.items() if key != "chosen"}
    path = _write(tmp_path, "broken", broken)
    with pytest.raises(ValueError, match=rf"{path}.*chosen.*rerun the job"):
        tuning_table([("d", path)])
    (tmp_path / "cut.json").write_text('{"stage": ')
    with pytest.raises(ValueError, match=r"cut\.json: not a readable tuning\.json"):
        write_tuning_table([("d", tmp_path / "cut.json")], tmp_path / "tables")
    assert not (tmp_path / "tables").exists()  # nothing written


def test_tuned_models_are_none_at_trials_zero_and_follow_per_model_trials():
    datasets = {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}
    trained = model_keys("train")
    assert tuned_models(fill_defaults({"datasets": datasets}), trained) == []
    zero = {"trials": 0, "models": {"snn": {"trials": 0}}}
    assert tuned_models(fill_defaults({"datasets": datasets, "tune": zero}), trained) == []
    one = {"trials": 0, "models": {"snn": {"trials": 3}}}
    assert tuned_models(fill_defaults({"datasets": datasets, "tune": one}), trained) == ["snn"]
    every = fill_defaults({"datasets": datasets, "tune": {"trials": 2}})
    assert tuned_models(every, trained) == trained
