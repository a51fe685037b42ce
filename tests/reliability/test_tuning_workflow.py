"""Tuning through real snakemake runs of the tiny study: ``tune.trials: 0`` plans no job on
the finished study (the train jobs' params are today's), a tuned study runs the LegoBlocks'
shared stage, trains each block with its chosen latent shape and merges them, and permuting
the test labels leaves every ``tuning.json`` and every chosen model as it was."""

from __future__ import annotations

import json
import os
import re
import shlex

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mmlego.evaluate.tuning_table import COLUMNS
from mmlego.predictions import read_predictions
from tests.markdown_tables import table_count, table_problems
from tests.reliability.study import (
    DATASET,
    MODELS,
    _strip,
    planned,
    run,
    study_config,
    target,
    write_config,
    write_study,
)

pytestmark = pytest.mark.slow
BLOCKS = ["lego_block.clinical", "lego_block.photos"]
SHARED = f"out/{DATASET}/lego_block/split0/tuning.json"
TABLE = "out/tables/tuning.csv"
TUNE = {
    "trials": 2,
    "startup_trials": 1,
    "warmup_epochs": 1,
    "space": {
        "train.lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True},
        "lego.latent_len": {"type": "categorical", "choices": [2, 4]},
        "lego.latent_dim": {"type": "categorical", "choices": [8, 12]},
    },
}


def test_trials_zero_plans_no_job_on_the_finished_study(study_copy):
    # A tune section with trials 0 (and a space, and a per-model entry) changes no job.
    config = study_config(tune={**TUNE, "trials": 0, "models": {"snn": {"trials": 0}}})
    write_config(study_copy, config)
    assert planned(study_copy) == []


def _train_steps(root, batched: bool = True) -> tuple[str, list[str], list[list[str]]]:
    """The dry-planned train job of lego_block.clinical on split 0 (and split 1 when the job
    batches splits): its rule, its inputs, and the ``mmlego`` argument list of each step."""
    splits = (0, 1) if batched else (0,)
    run_file = target("lego_block.clinical", "predictions.parquet")
    targets = [run_file.replace("split0", f"split{k}") for k in splits]
    args = () if batched else ("--config", "batch_splits=False")
    result = run(root, "-n", "-p", "--quiet", "host", *args, targets=targets)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    blocks = re.split(r"^\[.*\]$", result.stdout, flags=re.M)
    (block,) = [b for b in blocks if re.search(r"^rule train(?:_tuned)?:", b, re.M)]
    rule = re.search(r"^rule (train(?:_tuned)?):", block, re.M).group(1)
    inputs = re.search(r"^ +input: (.*)$", block, re.M).group(1).split(", ")
    words = shlex.split(re.search(r"^Shell command: mmlego (.*)$", block, re.M).group(1))
    steps = [json.loads(w) for w in words[1:]] if words[0] == "batch" else [words]
    return rule, inputs, steps


def _shared_tuning(step: list[str]) -> list[str]:
    return [step[i + 1] for i, arg in enumerate(step) if arg == "--shared-tuning"]


def test_each_split_of_a_tuned_block_job_reads_its_own_shared_tuning(tmp_path):
    # Two splits: the batched job takes both splits' shared tuning.json, and each split's
    # step gets its own; one job per split takes only its split's.
    write_study(tmp_path, splits={"repeats": 2}, tune=TUNE)
    shared = [SHARED.replace("split0", f"split{k}") for k in (0, 1)]
    rule, inputs, steps = _train_steps(tmp_path)
    assert rule == "train_tuned"  # the rule that declares the block's tuning.json
    assert [p for p in inputs if p.endswith("tuning.json")] == shared
    assert [_shared_tuning(s) for s in steps] == [[shared[0]], [shared[1]]]
    assert [s[s.index("--split") + 1] for s in steps] == ["0", "1"]
    rule, inputs, steps = _train_steps(tmp_path, batched=False)
    assert [p for p in inputs if p.endswith("tuning.json")] == shared[:1]
    assert [_shared_tuning(s) for s in steps] == [shared[:1]]
    # trials 0: the job's rule, inputs and command are those of a study without a tune section.
    write_config(tmp_path, study_config(splits={"repeats": 2}, tune={**TUNE, "trials": 0}))
    zero = _train_steps(tmp_path)
    write_config(tmp_path, study_config(splits={"repeats": 2}))
    assert zero == _train_steps(tmp_path)
    assert zero[0] == "train"
    assert not any(_shared_tuning(s) for s in zero[2])


def _permute_test_labels(path, test_ids) -> None:
    """Permute the test patients' labels in place (a cyclic shift: every 0/1 pair that
    differs changes), keeping the file's metadata and mtime."""
    stat = path.stat()
    table = pq.read_table(path)
    frame = table.to_pandas()
    rows = frame["patient_id"].isin(test_ids).to_numpy()
    frame.loc[rows, "label"] = np.roll(frame.loc[rows, "label"].to_numpy(), 1)
    permuted = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(permuted.replace_schema_metadata(table.schema.metadata), path)
    # Same time stamp: snakemake keeps the splits and transforms made from the true labels.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _check_tuning_table(root, tuning: dict[str, dict]) -> None:
    """tables/tuning.csv holds each tuning.json's chosen values, trials and validation score,
    and tuning.md is a valid table with one row per file."""
    table = pd.read_csv(root / TABLE)
    assert len(table) == len(tuning) == 3
    for name, payload in tuning.items():
        (row,) = table[table["run"] == name.replace("shared", "lego_block")].to_dict("records")
        assert (row["dataset"], row["split"], row["stage"]) == (DATASET, 0, payload["stage"])
        assert row["trials_run"] == len(payload["trials"]) == 2
        assert row["chosen_trial"] == payload["chosen"]["trial"]
        assert row["best_val"] == pytest.approx(payload["chosen"]["value"], rel=1e-5)
        for key, value in payload["chosen"]["params"].items():
            assert row[key] == pytest.approx(value, rel=1e-5), (name, key)
        untuned = set(table.columns) - set(COLUMNS) - set(payload["chosen"]["params"])
        assert all(pd.isna(row[key]) for key in untuned)  # the shared stage has no train.lr
    text = (root / TABLE.replace(".csv", ".md")).read_text()
    assert table_problems(text) == [] and table_count(text) == 1
    assert text.count("\n| toy |") == 3


def _tuning_files(root) -> dict[str, dict]:
    files = {"shared": root / SHARED} | {b: root / target(b, "tuning.json") for b in BLOCKS}
    return {name: _strip(json.loads(path.read_text())) for name, path in files.items()}


def test_a_tuned_study_shares_the_blocks_latent_shape_and_never_reads_test_labels(study_copy):
    root = study_copy
    # Fewer epochs than the study's 12 keep the five fits (two trials each) quick.
    train = {"epochs": 4, "batch_size": 16, "lr": 3.0e-3, "patience": 4}
    # Only the LegoBlocks are tuned (per-model trials 0 for the others).
    tune = {**TUNE, "models": {"snn": {"trials": 0}, "mcat": {"trials": 0}}}
    write_config(root, study_config(models=[*MODELS, "lego_merge"], tune=tune, train=train))
    targets = [target("lego_merge", "predictions.parquet")]
    jobs = planned(root, targets=[*targets, TABLE])
    blocks = ["train_tuned:lego_block.clinical", "train_tuned:lego_block.photos"]
    assert jobs == ["merge", *blocks, "tune_shared", "tuning_table"]
    done = run(root, targets=[*targets, TABLE])
    assert done.returncode == 0, done.stderr[-3000:]

    tuning = _tuning_files(root)
    _check_tuning_table(root, tuning)
    shared = tuning["shared"]
    assert shared["stage"] == "shared" and shared["runs"] == BLOCKS
    assert len(shared["trials"]) == 2
    shape = shared["chosen"]["params"]
    assert set(shape) == {"lego.latent_len", "lego.latent_dim"}
    for block in BLOCKS:
        own = tuning[block]
        assert own["stage"] == "run" and own["fixed"] == shape
        assert all(set(t["params"]) == {"train.lr"} for t in own["trials"])
        checkpoint = torch.load(root / target(block, "model.pt"), weights_only=True)
        assert checkpoint["hparams"]["tuned"] == own["chosen"]["params"]
        assert tuple(checkpoint["state_dict"]["latent"].shape) == (
            shape["lego.latent_len"],
            shape["lego.latent_dim"],
        )
        meta = read_predictions(root / target(block, "predictions.parquet")).meta
        assert meta["provenance"]["tuning"] == own["chosen"]
    merged = read_predictions(root / target("lego_merge", "predictions.parquet")).frame
    assert merged["prob_1"].notna().all()

    weights = {
        b: torch.load(root / target(b, "model.pt"), weights_only=True)["state_dict"] for b in BLOCKS
    }
    ds = root / "out" / DATASET
    split = json.loads((ds / "splits.json").read_text())["splits"][0]
    before = pq.read_table(ds / "labels.parquet").to_pandas()
    _permute_test_labels(ds / "labels.parquet", split["test"])
    after = pq.read_table(ds / "labels.parquet").to_pandas()
    assert not after["label"].equals(before["label"])
    blocks = [target(b, "predictions.parquet") for b in BLOCKS]
    rerun = run(root, "--forcerun", "tune_shared", "train_tuned", targets=blocks)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _tuning_files(root) == tuning  # every trial, value and chosen parameter
    for block, state in weights.items():
        again = torch.load(root / target(block, "model.pt"), weights_only=True)["state_dict"]
        assert all(torch.equal(again[k], v) for k, v in state.items()), block

    # Each block's tuning.json is an output of its train job: snakemake cleans it with the
    # run's other outputs, and a deleted one is made again by that job alone.
    block_tuning = [target(b, "tuning.json") for b in BLOCKS]
    cleaned = run(root, "--delete-all-output", "--dry-run", targets=targets)
    assert cleaned.returncode == 0, cleaned.stderr[-3000:]
    assert all(path in cleaned.stdout + cleaned.stderr for path in [SHARED, *block_tuning])
    (root / block_tuning[0]).unlink()
    assert planned(root, targets=[TABLE]) == ["train_tuned:lego_block.clinical", "tuning_table"]
