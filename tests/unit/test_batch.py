"""``mmlego batch``: several runs in one process give the files their own calls give."""

from __future__ import annotations

import json
import os
import random
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from mmlego import layout
from mmlego.cli import main
from mmlego.data.labels import write_labels
from mmlego.data.store import ModalityData, write_modality
from mmlego.utils.atomic import all_or_none, write_json_atomic
from mmlego.utils.provenance import created_utc, git_commit, provenance
from tests.conftest import BIN
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN

N = 30
IDS = [f"p{i:02d}" for i in range(N)]
# Two splits that share no test patient; the second holds p00..p05 out.
SPLITS = [
    {"train": IDS[:18], "val": IDS[18:24], "test": IDS[24:]},
    {"train": IDS[12:], "val": IDS[6:12], "test": IDS[:6]},
]
KINDS = {"clin": "vector", "vitals": "series"}
RUN = "lego_block.clin"
CFG = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 3}}
EPOCH = "1700000000"  # 2023-11-14T22:13:20+00:00


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A dataset folder (labels, two splits, a vector and a series store, each split's
    transforms fitted by ``mmlego transforms``)."""
    root = tmp_path_factory.mktemp("batch") / "ds"
    rng = np.random.default_rng(0)
    z = rng.normal(size=N)
    prov = provenance(None)
    time = np.exp(-z) * 10
    event = (np.arange(N) % 4 != 0).astype(int)
    labels = pd.DataFrame({"patient_id": IDS, "time": time, "event": event})
    write_labels(layout.labels(str(root)), labels, "survival", provenance=prov)
    write_json_atomic(layout.splits(str(root)), {"splits": SPLITS}, provenance=prov)
    clin = rng.normal(size=(N, 4)).astype(np.float32)
    clin[:, 0] += 2 * z
    vitals = rng.normal(size=(N, 5, 2)).astype(np.float32)
    stores = {
        "clin": ModalityData("clin", "vector", IDS, np.ones(N, bool), clin, list("abcd")),
        "vitals": ModalityData(
            "vitals", "series", IDS, np.ones(N, bool), vitals, ["hr", "rr"],
            mask=np.ones_like(vitals, bool),
        ),
    }  # fmt: skip
    for name, data in stores.items():
        write_modality(layout.modality_store(str(root), name), data, provenance=prov)
    cfg = {"splits": {"max_missing": 0.5}, "modalities": KINDS, "survival_bins": 4}
    argv = ["transforms", "--dataset", "d", "--labels", layout.labels(str(root))]
    argv += ["--splits", layout.splits(str(root)), *_store_args(root), "--cfg", json.dumps(cfg)]
    argv += ["--split", "0", "1", "--out", *(layout.transforms(str(root), k) for k in (0, 1))]
    assert main(argv) == 0
    return root


def _store_args(root) -> list[str]:
    return [f"--store={m}={layout.modality_store(str(root), m)}" for m in KINDS]


def _step(root, out, k: int, *, transforms: str | None = None, run: str = RUN) -> list[str]:
    """Split ``k``'s ``mmlego`` arguments of ``run``, as the train rule writes them."""
    root_s = str(root)
    return [
        "--log", str(out / f"split{k}.log"), "train",
        "--labels", layout.labels(root_s), "--splits", layout.splits(root_s),
        "--transforms", transforms or layout.transforms(root_s, k), *_store_args(root),
        "--dataset", "d", "--split", str(k), "--run", run,
        "--out-dir", str(out / f"split{k}"), "--cfg", json.dumps(CFG), "--seed", "3",
        "--device", "cpu", "--threads", "1",
    ]  # fmt: skip


def _tensors(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


OTHER = "lego_block.vitals"


def _read_the_commit_afresh() -> None:
    """Forget the commit this process cached when it first stamped an output. A long session
    (an xdist worker) may have read it before the tree changed (a commit, an edit: then
    ``-dirty``), and the fresh processes compared with below read the tree as it is now:
    their provenance, and so their bytes, differed for that reason alone."""
    git_commit.cache_clear()


def test_a_batch_of_two_splits_writes_what_two_single_runs_write(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _read_the_commit_afresh()
    single, batch = tmp_path / "single", tmp_path / "batch"
    # Split 1, the batch's second step, alone in a fresh process as its own job runs it
    # (started first, it runs beside the rest of the test); so is the other run's split 1,
    # the last step of the batch of two runs (runs_per_job) below.
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    alone = subprocess.Popen(
        [str(BIN / "mmlego"), *_step(dataset, single, 1)],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    other_alone = subprocess.Popen(
        [str(BIN / "mmlego"), *_step(dataset, single / OTHER, 1, run=OTHER)],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert main(_step(dataset, single, 0)) == 0
    # The batch runs in this process, after other state has been left behind on purpose:
    # each step must set its own seeds and threads.
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    torch.set_num_threads(2)
    steps = [json.dumps(_step(dataset, batch, k)) for k in (0, 1)]
    assert main(["batch", *steps]) == 0
    # Two runs of the dataset in one batch, as a job of runs_per_job.train: 2 runs them.
    two_runs = [_step(dataset, batch / "two", k) for k in (0, 1)]
    two_runs += [_step(dataset, batch / "two" / OTHER, k, run=OTHER) for k in (0, 1)]
    assert main(["batch", *map(json.dumps, two_runs)]) == 0
    for proc in (alone, other_alone):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    compared = [(single / f"split{k}", batch / f"split{k}") for k in (0, 1)]
    compared += [(single / f"split{k}", batch / "two" / f"split{k}") for k in (0, 1)]
    compared.append((single / OTHER / "split1", batch / "two" / OTHER / "split1"))
    for a, b in compared:
        assert (a / "predictions.parquet").read_bytes() == (b / "predictions.parquet").read_bytes()
        # The training log equal but for its wall-clock column.
        logs = [pd.read_csv(d / "train_log.csv").drop(columns="seconds") for d in (a, b)]
        pd.testing.assert_frame_equal(*logs, check_exact=True)
        assert (a / "model.pt").read_bytes() == (b / "model.pt").read_bytes()
        ta, tb = _tensors(a / "model.pt"), _tensors(b / "model.pt")
        assert list(ta) == list(tb)
        for key in ta:
            assert torch.equal(ta[key], tb[key]), key
    # The two splits differ (different patients and seeds), and so do the two runs, so the
    # comparisons above are not of copies of one file.
    assert (batch / "split0/predictions.parquet").read_bytes() != (
        batch / "split1/predictions.parquet"
    ).read_bytes()
    assert (batch / "two" / "split1/predictions.parquet").read_bytes() != (
        batch / "two" / OTHER / "split1/predictions.parquet"
    ).read_bytes()
    # Each split logs to its own file, and only there.
    log0, log1 = ((batch / f"split{k}.log").read_text() for k in (0, 1))
    assert f"{RUN} split 0: best epoch" in log0 and "split 1:" not in log0
    assert f"{RUN} split 1: best epoch" in log1 and "split 0:" not in log1


def test_a_failed_step_leaves_no_outputs_and_stops_the_batch(dataset, tmp_path):
    out = tmp_path / "batch"
    missing = str(tmp_path / "absent" / "split1.json")
    steps = [
        _step(dataset, out, 0),
        _step(dataset, out, 1, transforms=missing),
        _step(dataset, out / "third", 0),
    ]
    assert main(["batch", *map(json.dumps, steps)]) == 1
    assert sorted(p.name for p in (out / "split0").iterdir()) == [
        "model.pt",
        "predictions.parquet",
        "train_log.csv",
    ]
    assert not (out / "split1").exists() or not any((out / "split1").iterdir())
    assert not (out / "third" / "split0").exists()
    assert missing in (out / "split1.log").read_text()
    assert (
        "not run: batch step 2 of 3 (train, dataset d, run lego_block.clin, split 1) failed"
        in (out / "third" / "split0.log").read_text()
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{not json", "batch step 2 is not JSON"),
        ('{"a": 1}', "batch step 2 must be a JSON list of strings"),
        ('["train", "--split"]', "batch step 2 has arguments mmlego does not accept"),
        ('["batch", "[]"]', "batch step 2 must name one step other than batch"),
    ],
)
def test_a_malformed_step_stops_the_batch_before_any_step_runs(
    dataset, tmp_path, capsys, step, message
):
    out = tmp_path / "batch"
    assert main(["batch", json.dumps(_step(dataset, out, 0)), step]) == 1
    assert message in capsys.readouterr().err
    assert not (out / "split0").exists()


def test_outputs_written_together_are_removed_together(tmp_path):
    first, second = tmp_path / "model.pt", tmp_path / "predictions.parquet"
    with pytest.raises(OSError, match="disk gone"), all_or_none(first, second):
        first.write_bytes(b"weights")
        raise OSError("disk gone")
    assert not first.exists() and not second.exists()
    with all_or_none(first, second):
        first.write_bytes(b"weights")
        second.write_bytes(b"rows")
    assert first.read_bytes() == b"weights" and second.read_bytes() == b"rows"


def test_created_utc_follows_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert created_utc() == "2023-11-14T22:13:20+00:00"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH='yesterday' is not a Unix time"):
        created_utc()


MERGE_CFG = {"merge": {"magnitude": "harmonic", "phase": "circular", "head": "slerp", "eps": 1e-8}}
FUSE_CFG = {
    "fuse": {"epochs": 2, "lr": None, "mode": "stack", "select": "last"},
    "merge": {"head": "slerp"},
    "train": CFG["train"],
}
BLOCKS = {m: f"lego_block.{m}" for m in KINDS}


@pytest.fixture(scope="module")
def blocks(dataset, tmp_path_factory):
    """Both modalities' LegoBlocks trained on both splits (one batch): the inputs of the
    steps made from blocks and predictions."""
    out = tmp_path_factory.mktemp("blocks")
    steps = []
    for run in BLOCKS.values():
        for k in (0, 1):
            step = _step(dataset, out / run, k)
            step[step.index("--run") + 1] = run
            steps.append(json.dumps(step))
    assert main(["batch", *steps]) == 0
    return out


def _later_steps(root, blocks, out, k: int) -> list[list[str]]:
    """Split ``k``'s merge, fuse, lego_ensemble and metrics arguments, as their rules write
    them; the metrics score a block's predictions (the same file either way, as the file
    records the paths it read)."""
    root_s, run_dir = str(root), lambda run: blocks / run / f"split{k}"
    files = ["--labels", layout.labels(root_s), "--splits", layout.splits(root_s)]
    combined = []
    for step, cfg in (("merge", MERGE_CFG), ("fuse", FUSE_CFG)):
        args = ["--log", str(out / f"{step}{k}.log"), step, *files]
        args += ["--transforms", layout.transforms(root_s, k), *_store_args(root)]
        args += ["--dataset", "d", "--split", str(k), "--out-dir", str(out / f"{step}{k}")]
        args += ["--cfg", json.dumps(cfg), "--seed", "3", "--device", "cpu"]
        args += [f"--block={m}={run_dir(run) / 'model.pt'}" for m, run in BLOCKS.items()]
        combined.append(args)
    ensemble = ["--log", str(out / f"ensemble{k}.log"), "ensemble"]
    for m, run in BLOCKS.items():
        ensemble += [f"--member={run}={run_dir(run) / 'predictions.parquet'}"]
        ensemble += [f"--store={run}={layout.modality_store(root_s, m)}"]
    ensemble += ["--run", "lego_ensemble", "--survival-mean", "hazards", "--dataset", "d"]
    ensemble += ["--split", str(k), "--cfg", "{}", "--seed", "3"]
    ensemble += ["--out", str(out / f"ensemble{k}" / "predictions.parquet")]
    metrics = ["--log", str(out / f"metrics{k}.log"), "metrics", *files, "--split", str(k)]
    metrics += ["--predictions", str(run_dir(RUN) / "predictions.parquet")]
    metrics += ["--train-log", str(run_dir(RUN) / "train_log.csv"), *_store_args(root)]
    metrics += ["--out", str(out / f"metrics{k}.json")]
    return [*combined, ensemble, metrics]


def _files(folder) -> dict[str, bytes]:
    """Every output file below ``folder`` (not the logs) by its relative path; a training log
    without its wall-clock column."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".log"):
        data = path.read_bytes()
        if path.name == "train_log.csv":
            data = pd.read_csv(path).drop(columns="seconds").to_csv(index=False).encode()
        files[str(path.relative_to(folder))] = data
    return files


def test_batched_merge_fuse_ensemble_and_metrics_write_what_single_runs_write(
    dataset, blocks, tmp_path, monkeypatch
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    _read_the_commit_afresh()
    single, batch = tmp_path / "single", tmp_path / "batch"
    steps = [s for k in (0, 1) for s in _later_steps(dataset, blocks, single, k)]
    # Each step alone in a fresh process, as one job per split runs it (all at once).
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    alone = [
        subprocess.Popen([str(BIN / "mmlego"), *step], env=env, stderr=subprocess.PIPE, text=True)
        for step in steps
    ]
    # One batch of all eight, the kinds interleaved, after state left behind on purpose: no
    # step may lean on what an earlier one (or the test) set.
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    torch.set_num_threads(2)
    steps = [s for k in (0, 1) for s in _later_steps(dataset, blocks, batch, k)]
    assert main(["batch", *map(json.dumps, steps)]) == 0
    for proc in alone:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    written = _files(batch)
    assert sorted(written) == sorted(
        [f"merge{k}/{name}" for k in (0, 1) for name in
         ("missing_modality.json", "model.pt", "predictions.parquet")]
        + [f"fuse{k}/{name}" for k in (0, 1) for name in
           ("model.pt", "predictions.parquet", "train_log.csv")]
        + [f"ensemble{k}/predictions.parquet" for k in (0, 1)]
        + [f"metrics{k}.json" for k in (0, 1)]
    )  # fmt: skip
    assert _files(single) == written
    # The splits' files differ, so the comparison is not of copies of one file.
    for name in (
        "merge{}/predictions.parquet",
        "fuse{}/model.pt",
        "ensemble{}/predictions.parquet",
        "metrics{}.json",
    ):
        assert written[name.format(0)] != written[name.format(1)]
    log0 = (batch / "metrics0.log").read_text()
    assert "split 0: val" in log0 and "split 1" not in log0
