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
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mmlego.predictions import read_predictions
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


def _train_steps(root, batched: bool = True) -> tuple[list[str], list[list[str]]]:
    """The dry-planned train job of lego_block.clinical on split 0 (and split 1 when the job
    batches splits): its inputs, and the ``mmlego`` argument list of each of its steps."""
    splits = (0, 1) if batched else (0,)
    run_file = target("lego_block.clinical", "predictions.parquet")
    targets = [run_file.replace("split0", f"split{k}") for k in splits]
    args = () if batched else ("--config", "batch_splits=False")
    result = run(root, "-n", "-p", "--quiet", "host", *args, targets=targets)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (block,) = [b for b in re.split(r"^\[.*\]$", result.stdout, flags=re.M) if "rule train:" in b]
    inputs = re.search(r"^ +input: (.*)$", block, re.M).group(1).split(", ")
    words = shlex.split(re.search(r"^Shell command: mmlego (.*)$", block, re.M).group(1))
    steps = [json.loads(w) for w in words[1:]] if words[0] == "batch" else [words]
    return inputs, steps


def _shared_tuning(step: list[str]) -> list[str]:
    return [step[i + 1] for i, arg in enumerate(step) if arg == "--shared-tuning"]


def test_each_split_of_a_tuned_block_job_reads_its_own_shared_tuning(tmp_path):
    # Two splits: the batched job takes both splits' shared tuning.json, and each split's
    # step gets its own; one job per split takes only its split's.
    write_study(tmp_path, splits={"repeats": 2}, tune=TUNE)
    shared = [SHARED.replace("split0", f"split{k}") for k in (0, 1)]
    inputs, steps = _train_steps(tmp_path)
    assert [p for p in inputs if p.endswith("tuning.json")] == shared
    assert [_shared_tuning(s) for s in steps] == [[shared[0]], [shared[1]]]
    assert [s[s.index("--split") + 1] for s in steps] == ["0", "1"]
    inputs, steps = _train_steps(tmp_path, batched=False)
    assert [p for p in inputs if p.endswith("tuning.json")] == shared[:1]
    assert [_shared_tuning(s) for s in steps] == [shared[:1]]
    # trials 0: the job's inputs and command are those of a study without a tune section.
    write_config(tmp_path, study_config(splits={"repeats": 2}, tune={**TUNE, "trials": 0}))
    zero = _train_steps(tmp_path)
    write_config(tmp_path, study_config(splits={"repeats": 2}))
    assert zero == _train_steps(tmp_path)
    assert not any(_shared_tuning(s) for s in zero[1])


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


def _tuning_files(root) -> dict[str, dict]:
    files = {"shared": root / SHARED} | {b: root / target(b, "tuning.json") for b in BLOCKS}
    return {name: _strip(json.loads(path.read_text())) for name, path in files.items()}


def test_a_tuned_study_shares_the_blocks_latent_shape_and_never_reads_test_labels(study_copy):
    root = study_copy
    # Fewer epochs than the study's 12 keep the five fits (two trials each) quick.
    train = {"epochs": 4, "batch_size": 16, "lr": 3.0e-3, "patience": 4}
    write_config(root, study_config(models=[*MODELS, "lego_merge"], tune=TUNE, train=train))
    targets = [target("lego_merge", "predictions.parquet")]
    jobs = planned(root, targets=targets)
    assert jobs == ["merge", "train:lego_block.clinical", "train:lego_block.photos", "tune_shared"]
    done = run(root, targets=targets)
    assert done.returncode == 0, done.stderr[-3000:]

    tuning = _tuning_files(root)
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
    rerun = run(root, "--forcerun", "tune_shared", "train", targets=blocks)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _tuning_files(root) == tuning  # every trial, value and chosen parameter
    for block, state in weights.items():
        again = torch.load(root / target(block, "model.pt"), weights_only=True)["state_dict"]
        assert all(torch.equal(again[k], v) for k, v in state.items()), block
