"""Faults through real snakemake runs of the tiny study (tests/reliability/study.py).

SIGKILL of snakemake and its jobs in the middle of encoding and of training, a job that
fails once, a full or read-only disk, a truncated cached file: each ends with a rerun whose
values equal those of the uninterrupted run, and nothing partial is ever trusted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmlego.data.store import read_modality
from tests.reliability.study import (
    DATASET,
    assert_same_results,
    env,
    kill_when,
    results,
    run,
    target,
    text,
)

pytestmark = pytest.mark.slow
NO_RETRY = ("--retries", "0")  # a failure that is the point of the test is not retried


def _incomplete(root: Path) -> list[Path]:
    folder = root / ".snakemake" / "incomplete"
    return list(folder.iterdir()) if folder.exists() else []


def _assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _rerun_after_kill(root: Path, targets: list[str], *, show_lock: bool = False) -> None:
    """What a user does after a kill: snakemake refuses the locked folder and says to unlock
    it; then the rerun redoes the incomplete job (the profile sets ``rerun-incomplete``)."""
    if show_lock:
        locked = run(root, targets=targets)
        assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    _assert_ok(run(root, "--unlock", targets=targets))
    _assert_ok(run(root, targets=targets))


def test_kill_in_the_middle_of_encoding_then_rerun_incomplete(base_study, study_copy):
    root = study_copy
    ds = root / "out" / DATASET
    # A fresh encoding, split and training: without the features and what was made from
    # them, and without the splits (so the rerun also shows one seed gives the same splits).
    shutil.rmtree(ds / "features")
    (ds / "modalities/photos.h5").unlink()
    shutil.rmtree(ds / "lego_block.photos")
    (ds / "splits.json").unlink()
    shutil.rmtree(ds / "transforms")
    log = root / "out/logs" / DATASET / "features/photos/shard0.log"
    log.unlink()
    targets = [target("lego_block.photos")]
    # The progress line is written once the encoder is built and the first batch is read.
    kill_when(root, targets, lambda: "images:" in text(log))
    assert "100%" not in text(log)
    shard = next((ds / "features/photos").iterdir())
    assert not shard.exists() or not any(shard.iterdir())
    assert _incomplete(root), "snakemake did not mark the killed job incomplete"

    _rerun_after_kill(root, targets)
    assert not _incomplete(root)
    assert not list((ds / "features/photos").rglob(".tmp-*")), "a killed job's temp files stayed"
    store, expected = (
        read_modality(r / "out" / DATASET / "modalities/photos.h5") for r in (root, base_study)
    )
    np.testing.assert_array_equal(store.values, expected.values)
    np.testing.assert_array_equal(store.offsets, expected.offsets)
    assert_same_results(
        results(root, ["lego_block.photos"]), results(base_study, ["lego_block.photos"])
    )


def test_kill_in_the_middle_of_training_then_rerun_incomplete(base_study, study_copy):
    root = study_copy
    run_dir = root / "out" / DATASET / "lego_block.clinical"
    shutil.rmtree(run_dir)
    log = root / "out/logs/train" / DATASET / "lego_block.clinical/split0.log"
    log.unlink()
    targets = [target("lego_block.clinical")]
    kill_when(root, targets, lambda: "epoch 2:" in text(log))
    assert "best epoch" not in text(log) and not (run_dir / "split0/model.pt").exists()
    assert _incomplete(root)

    _rerun_after_kill(root, targets, show_lock=True)
    assert not _incomplete(root)
    runs = ["lego_block.clinical"]
    assert_same_results(results(root, runs), results(base_study, runs))


def _flaky_mmlego(folder: Path, marker: Path) -> Path:
    """An ``mmlego`` first on PATH whose first train job writes half a model and fails; every
    other call runs the real command. The test's only hook: production code is untouched."""
    folder.mkdir()
    real = shutil.which("mmlego", path=str(Path(sys.executable).parent))
    script = folder / "mmlego"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "from pathlib import Path\n"
        f"marker, real = Path({str(marker)!r}), {real!r}\n"
        "args = sys.argv[1:]\n"
        # A job of several splits runs each split's arguments under `mmlego batch`.
        "steps = [json.loads(a) for a in args[1:]] if args[:1] == ['batch'] else [args]\n"
        "step = next((s for s in steps if 'train' in s), None)\n"
        "if step is not None and not marker.exists():\n"
        "    marker.touch()\n"
        "    out = Path(step[step.index('--out-dir') + 1])\n"
        "    out.mkdir(parents=True, exist_ok=True)\n"
        "    (out / 'model.pt').write_bytes(b'half a model')\n"
        "    sys.exit(1)\n"
        "os.execv(real, [real, *args])\n"
    )
    script.chmod(0o755)
    return folder


def test_a_job_that_fails_once_is_retried_with_retries(base_study, study_copy, tmp_path):
    """`--retries 1` (the local profile has none: its failures are mostly bad input) reruns a
    job that failed after writing half a model; the rerun starts clean."""
    root = study_copy
    shutil.rmtree(root / "out" / DATASET / "snn.clinical")
    marker = tmp_path / "failed_once"
    hook = _flaky_mmlego(tmp_path / "hook", marker)
    result = run(root, "--retries", "1", targets=[target("snn.clinical")], path_first=hook)
    _assert_ok(result)
    assert marker.exists(), "the injected failure never happened"
    assert "Trying to restart job" in result.stdout + result.stderr
    runs = ["snn.clinical"]
    assert_same_results(results(root, runs), results(base_study, runs))


def _mount(options: str, where: Path) -> None:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")


def _error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line]


def test_full_disk_gives_a_clear_error_and_no_file_then_the_rerun_completes(base_study, study_copy):
    root = study_copy
    split_dir = root / "out" / DATASET / "snn.clinical" / "split0"
    shutil.rmtree(split_dir)
    split_dir.mkdir()
    _mount("size=4k", split_dir)  # one page: the model file does not fit
    try:
        failed = run(root, *NO_RETRY, targets=[target("snn.clinical")])
        leftovers = list(split_dir.iterdir())
    finally:
        subprocess.run(["umount", str(split_dir)], check=True)
    assert failed.returncode != 0
    log = text(root / "out/logs/train" / DATASET / "snn.clinical/split0.log")
    (error,) = _error_lines(log)
    assert "train failed: [Errno 28] cannot write out/toy/snn.clinical/split0/" in error
    assert "No space left on device; free disk space" in error and "Traceback" not in log
    assert leftovers == [], "a partial or temporary file was left for a rerun to find"

    _assert_ok(run(root, targets=[target("snn.clinical")]))  # with space again
    runs = ["snn.clinical"]
    assert_same_results(results(root, runs), results(base_study, runs))


def test_read_only_output_folder_gives_a_clear_error_and_no_file(study_copy):
    root = study_copy
    ds = root / "out" / DATASET
    split_dir = ds / "snn.clinical" / "split0"
    shutil.rmtree(split_dir)
    split_dir.mkdir()
    _mount("ro,size=4k", split_dir)
    try:
        # snakemake itself stops first: it clears a job's outputs before running it.
        failed = run(root, *NO_RETRY, targets=[target("snn.clinical")])
        # The step on its own (what the job would run) reports it in one line.
        step = subprocess.run(
            ["mmlego", "splits", "--dataset", DATASET, "--labels", str(ds / "labels.parquet"),
             "--cfg", "{}", "--seed", "0", "--out", str(split_dir / "splits.json")],
            env=env(), capture_output=True, text=True,
        )  # fmt: skip
        leftovers = list(split_dir.iterdir())
    finally:
        subprocess.run(["umount", str(split_dir)], check=True)
    assert failed.returncode != 0
    assert "Read-only file system: 'out/toy/snn.clinical/split0/" in failed.stdout + failed.stderr
    assert step.returncode == 1 and "Traceback" not in step.stderr
    (error,) = _error_lines(step.stderr)
    assert f"splits failed: [Errno 30] cannot write {split_dir / 'splits.json'}" in error
    assert "Read-only file system; make the output folder writable" in error
    assert leftovers == []


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_predictions_are_detected_then_regenerated(base_study, study_copy):
    root = study_copy
    predictions = root / target("snn.clinical", "predictions.parquet")
    _truncate(predictions)  # newer than metrics.json: the metrics job reads it
    failed = run(root, *NO_RETRY, targets=[target("snn.clinical")])
    assert failed.returncode != 0
    log = text(root / "out/logs/metrics" / DATASET / "snn.clinical/split0.log")
    assert str(predictions.relative_to(root)) in log and "delete it and rerun" in log, log[-2000:]
    assert not (root / target("snn.clinical")).exists()  # no metrics from a broken file

    predictions.unlink()  # what the message says to do
    _assert_ok(run(root, targets=[target("snn.clinical")]))
    runs = ["snn.clinical"]
    assert_same_results(results(root, runs), results(base_study, runs))


def test_truncated_store_is_detected_before_any_job_uses_it(study_copy):
    root = study_copy
    store = root / "out" / DATASET / "modalities/clinical.h5"
    _truncate(store)
    model = root / target("lego_block.clinical", "model.pt")
    before = model.stat().st_mtime_ns
    failed = run(root, *NO_RETRY, targets=[target("lego_block.clinical")])
    assert failed.returncode != 0
    log = text(root / "out/logs" / DATASET / "transforms/clinical.log")
    assert str(store.relative_to(root)) in log and "delete it and rerun" in log, log[-2000:]
    assert not (root / "out" / DATASET / "transforms/split0/clinical.json").exists()
    assert model.stat().st_mtime_ns == before  # no model was trained on it
