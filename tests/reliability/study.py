"""A tiny generic study for the fault, caching and determinism tests, and ways to run it.

One binary dataset with a clinical table (signal in two columns) and a small photo for some
patients (the image modality makes an encoding job). Models: LegoBlocks (one per modality),
the SNN on the table and MCAT on both. One split. Every path in the config is relative to
the study folder, so a finished study can be copied and run again elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from tests.conftest import BIN, REPO

N = 40
PHOTOS = 16  # patients with a photo (each photo is 256 patches to encode)
DATASET = "toy"
MODELS = ["lego_block", "snn", "mcat"]
# Every trained run of the study, and the files that hold its results.
RUNS = ["lego_block.clinical", "lego_block.photos", "snn.clinical", "mcat"]
ENCODER = {"arch": "resnet18", "patch_size": 32, "mpp": 1.0, "num_workers": 0, "batch_size": 16}


def study_config(seed: int = 0, **overrides) -> dict:
    """The study's config (paths relative to the study folder)."""
    config = {
        "output_dir": "out",
        "seed": seed,
        "device": "cpu",
        "splits": {"repeats": 1},
        "encoder": ENCODER,
        "datasets": {
            DATASET: {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "labels.csv", "label": "label"},
                "modalities": {
                    "clinical": {"type": "tabular", "path": "clinical.csv"},
                    "photos": {"type": "image", "manifest": "photos.csv"},
                },
            }
        },
        "models": MODELS,
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "baselines": {"dim": 8, "heads": 2, "mcat": {"groups": 2}},
        "train": {"epochs": 12, "batch_size": 16, "lr": 3.0e-3, "patience": 12},
    }
    config.update(overrides)
    return config


def write_study(root: Path, seed: int = 0, **overrides) -> Path:
    """Write the raw data and ``study.yaml`` into ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = [f"pt{i:02d}" for i in range(N)]
    z = rng.normal(size=(N, 2))
    pd.DataFrame({"patient_id": ids, "a": z[:, 0], "b": z[:, 1], "c": rng.normal(size=N)}).to_csv(
        root / "clinical.csv", index=False
    )
    labels = ((z[:, 0] + z[:, 1] + rng.normal(size=N)) > 0).astype(int)
    pd.DataFrame({"patient_id": ids, "label": labels}).to_csv(root / "labels.csv", index=False)
    photos = root / "photos"
    photos.mkdir(exist_ok=True)
    rows = []
    for i, pid in enumerate(ids[:PHOTOS]):
        pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        pixels[..., 0] = pixels[..., 0] // 2 + 60 * labels[i]
        Image.fromarray(pixels).save(photos / f"{pid}.png")
        rows.append((pid, f"photos/{pid}.png"))
    pd.DataFrame(rows, columns=["patient_id", "path"]).to_csv(root / "photos.csv", index=False)
    write_config(root, study_config(seed, **overrides))
    return root


def write_config(root: Path, config: dict) -> None:
    (root / "study.yaml").write_text(yaml.safe_dump(config))


def metrics_targets() -> list[str]:
    """The final files of the study: every run's metrics."""
    return [f"out/{DATASET}/{run}/split0/metrics.json" for run in RUNS]


def snakemake_cmd(*args: str) -> list[str]:
    """A snakemake command line on the study in the working directory (the local profile)."""
    exe = shutil.which("snakemake", path=str(BIN)) or "snakemake"
    return [exe, "--snakefile", str(REPO / "Snakefile"), "--configfile", "study.yaml", *args]


def env(path_first: Path | None = None) -> dict[str, str]:
    """The environment of a run: the venv's executables first (``path_first`` before them)."""
    paths = [str(p) for p in (path_first, BIN) if p is not None]
    return {**os.environ, "PATH": os.pathsep.join([*paths, os.environ.get("PATH", "")])}


def run(
    root: Path,
    *args: str,
    targets: list[str] | None = None,
    path_first: Path | None = None,
    timeout: int = 300,
) -> subprocess.CompletedProcess:
    """Run snakemake on the study in ``root`` (default targets: every run's metrics)."""
    return subprocess.run(
        snakemake_cmd("--cores", "2", *(targets or metrics_targets()), *args),
        cwd=root,
        env=env(path_first),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def planned(root: Path, *args: str, targets: list[str] | None = None) -> list[str]:
    """``rule[:run]`` of every job a dry run would run, sorted (e.g. ``train:mcat``)."""
    # `--quiet host`: the local profile's quiet list hides the job blocks this parses.
    result = run(root, "-n", "--quiet", "host", *args, targets=targets)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = []
    for block in re.split(r"^\[.*\]$", result.stdout, flags=re.M):  # a job's block: [time]
        rule = re.search(r"^(?:local)?rule (\w+):", block, flags=re.M)
        if rule:
            wildcard = re.search(r"wildcards: .*?run=([\w.]+)", block)
            jobs.append(rule.group(1) + (f":{wildcard.group(1)}" if wildcard else ""))
    return sorted(jobs)


def kill_when(root: Path, targets: list[str], started: Callable[[], bool]) -> str:
    """Start snakemake on ``targets`` in its own session, wait until ``started()``, then
    SIGKILL snakemake and every process of its session (the running jobs). Returns what the
    killed run printed."""
    log = root / "killed_run.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            snakemake_cmd("--cores", "2", *targets),
            cwd=root,
            env=env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 240
        while not started():
            assert proc.poll() is None, f"the run ended before the kill: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the target job never started"
            time.sleep(0.02)
        session = _session_members(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in _session_members(proc.pid) | session:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(session) > 1, "no job process was running at the kill"
    deadline = time.monotonic() + 10
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _session_members(proc.pid), "a job process outlived the kill"
    return log.read_text()


def _session_members(sid: int) -> set[int]:
    """Live (not zombie) processes of session ``sid``."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                members.add(int(stat.parent.name))
    return members


def text(path: Path) -> str:
    """The file's text, or "" while it does not exist."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def results(root: Path, runs: list[str] = RUNS) -> dict[str, object]:
    """The values a study produces, without timestamps or provenance: the splits, and the
    predictions and metrics of ``runs``."""
    ds = root / "out" / DATASET
    values: dict[str, object] = {"splits": _strip(json.loads((ds / "splits.json").read_text()))}
    for name in runs:
        values[f"{name}/predictions"] = pd.read_parquet(ds / name / "split0/predictions.parquet")
        values[f"{name}/metrics"] = _strip(
            json.loads((ds / name / "split0/metrics.json").read_text())
        )
    return values


# Keys that record when, where and how fast, not what was computed.
NOT_VALUES = ("provenance", "train_seconds")


def _strip(value):
    """A JSON value without its provenance blocks and timings."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in NOT_VALUES}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def assert_same_results(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], pd.DataFrame):
            pd.testing.assert_frame_equal(a[key], b[key], check_exact=True, obj=key)
        else:
            assert a[key] == b[key], key


def target(run_name: str, file: str = "metrics.json") -> str:
    """A file of one run of the study."""
    return f"out/{DATASET}/{run_name}/split0/{file}"
