"""The workflow on a real one-node SLURM cluster through profiles/slurm (+ profiles/slurm-test).

scripts/slurm_local.sh installs Debian's slurm and munge, starts munged, slurmctld and slurmd,
and stops them by PID. A tiny hand-made study (a generic dataset with tabular and time-series
modalities, and a MIMIC-III-like one) runs with the executor plugin; every non-local job must have gone through SLURM (one log per SLURM job id,
each job COMPLETED in `squeue -t all`), and the outputs must equal a local run's. The study's
default target grows as stages land, so the slice covers whatever rules the workflow has.

Needs root (it starts daemons). Set MMLEGO_REQUIRE_SLURM=1 (CI does) to fail instead of skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import BIN, REPO
from tests.e2e.compare import assert_same_outputs

SCRIPT = REPO / "scripts" / "slurm_local.sh"
STATE_DIR = Path(os.environ.get("MMLEGO_SLURM_DIR", "/var/tmp/mmlego-slurm"))
# One cluster per machine: concurrent test sessions take turns.
LOCK_FILE = Path("/var/tmp/mmlego-slurm.lock")
LOCK_WAIT_S = 600
RUN_TIMEOUT_S = 300

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _unavailable(reason: str) -> None:
    if os.environ.get("MMLEGO_REQUIRE_SLURM") == "1":
        pytest.fail(f"MMLEGO_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def _script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300
    )


def _lock():
    handle = open(LOCK_FILE, "w")  # noqa: SIM115 - held for the whole module
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                _unavailable(
                    f"another test session held the SLURM test cluster for {LOCK_WAIT_S} s"
                )
            time.sleep(2)


@pytest.fixture(scope="module")
def slurm_env():
    """Environment for sbatch/squeue and snakemake, with the test cluster up for the module."""
    if os.geteuid() != 0:
        _unavailable("a real SLURM test cluster needs root (it starts munged, slurmctld, slurmd)")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MMLEGO_SLURM_DIR": str(STATE_DIR),
        # The test node has no GPU: the encode and train rules must not request one.
        "MMLEGO_SLURM_GPUS": "0",
    }
    for key in (
        "SLURM_CONF",
        "MMLEGO_SLURM_PARTITION",
        "MMLEGO_SLURM_GPU_PARTITION",
        "MMLEGO_SLURM_ACCOUNT",
    ):
        env.pop(key, None)
    installed = _script("install", env=env)
    if installed.returncode != 0:
        _unavailable(f"slurm could not be installed with apt-get: {installed.stderr[-500:]}")
    lock = _lock()
    try:
        up = _script("up", env=env)
        if up.returncode != 0:
            _script("down", env=env)
            pytest.fail(f"the SLURM test cluster did not come up:\n{up.stdout}\n{up.stderr}")
        yield env
    finally:
        down = _script("down", env=env)
        lock.close()
        assert down.returncode == 0, down.stderr


def _write_study(root: Path, n: int = 40, seed: int = 3) -> Path:
    """A small study: a generic survival dataset in plain CSVs (a tabular and a long-format
    time-series modality). The MIMIC chain is left to the local e2e tests: through SLURM it
    only added jobs of the same rules, and a minute to the suite."""
    rng = np.random.default_rng(seed)
    data = root / "data"
    data.mkdir()
    ids = [f"P{i:03d}" for i in range(n)]
    age = rng.normal(60, 10, n).round(1)
    stage = rng.choice(["I", "II", "III"], n)
    risk = (age - 60) / 10 + (stage == "III")
    time_ = np.maximum(1.0, rng.exponential(np.exp(-risk) * 40)).round(1)
    event = (rng.random(n) < 0.7).astype(int)
    pd.DataFrame({"patient_id": ids, "time": time_, "event": event}).to_csv(
        data / "labels.csv", index=False
    )
    pd.DataFrame({"patient_id": ids, "age": age, "stage": stage}).to_csv(
        data / "clinical.csv", index=False
    )
    rows = [
        {"patient_id": pid, "day": int(day), "test": test, "value": float(rng.normal(r, 1))}
        for pid, r in zip(ids, risk, strict=True)
        for day in rng.integers(-300, 0, 6)
        for test in ("hb", "crp")
    ]
    pd.DataFrame(rows).to_csv(data / "labs.csv", index=False)
    config = {
        "output_dir": "out",
        "seed": 0,
        "device": "cpu",
        "splits": {"repeats": 1, "train": 0.6, "val": 0.2, "test": 0.2},
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "survival",
                "labels": {
                    "path": str(data / "labels.csv"),
                    "id": "patient_id",
                    "time": "time",
                    "event": "event",
                },
                "modalities": {
                    "clinical": {
                        "type": "tabular",
                        "path": str(data / "clinical.csv"),
                        "id": "patient_id",
                    },
                    "labs": {
                        "type": "timeseries",
                        "path": str(data / "labs.csv"),
                        "id": "patient_id",
                        "time": "day",
                        "variable": "test",
                        "value": "value",
                        "window": [-365, 0],
                        "bins": 4,
                    },
                },
            },
        },
        "models": ["lego_block", "lego_merge"],
        "train": {"epochs": 2, "batch_size": 16, "patience": 2},
    }
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _command(workdir: Path, config: Path, *args: str) -> list[str]:
    """snakemake in ``workdir`` under `timeout -k 30`: a stuck run ignores SIGTERM."""
    return [
        "timeout",
        "-k",
        "30",
        str(RUN_TIMEOUT_S),
        str(BIN / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--workflow-profile",
        "none",
        *args,
    ]


def _snakemake(workdir: Path, config: Path, *args: str, env: dict[str, str]):
    return subprocess.run(
        _command(workdir, config, *args), cwd=workdir, env=env, capture_output=True, text=True
    )


@contextlib.contextmanager
def _started_snakemake(workdir: Path, config: Path, *args: str, env: dict[str, str]):
    """snakemake started in ``workdir`` (its output to ``workdir.log``) while the block runs;
    left early (a failed assertion, a skip), it is killed with every process it started."""
    with open(workdir.with_suffix(".log"), "w") as log:
        proc = subprocess.Popen(
            _command(workdir, config, *args),
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


SLURM_PROFILES = (
    "--profile",
    str(REPO / "profiles/slurm"),
    "--profile",
    str(REPO / "profiles/slurm-test"),
)


def _slurm_logs(workdir: Path) -> dict[str, list[int]]:
    """SLURM job ids per rule, from the plugin's per-job logs (`<jobid>.log`)."""
    logs: dict[str, list[int]] = {}
    for log in (workdir / ".snakemake" / "slurm_logs").glob("rule_*/**/*.log"):
        rule = log.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0][len("rule_") :]
        logs.setdefault(rule, []).append(int(log.stem))
    return logs


def _squeue_states(env: dict[str, str]) -> dict[int, str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {int(i): state for i, state in (line.split() for line in out.splitlines())}


def test_study_runs_through_slurm_and_matches_a_local_run(tmp_path, slurm_env):
    study = _write_study(tmp_path)
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    # A config file in each run's folder: its `output_dir: out` is taken from the file's
    # folder, so each run writes its own outputs (one config beside both wrote one folder,
    # the local run found it done, and the comparison below compared two empty folders).
    for workdir in (on_slurm, local):
        workdir.mkdir()
        (workdir / study.name).write_text(study.read_text())
    # The local run to compare with runs meanwhile: the SLURM run mostly waits (submission,
    # status checks every few seconds), so the two take about the time of one.
    with _started_snakemake(local, local / study.name, "--cores", "2", env=slurm_env) as base:
        run = _snakemake(on_slurm, on_slurm / study.name, *SLURM_PROFILES, env=slurm_env)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
        # Snakemake announces local jobs as "localrule X:" and executor jobs as "rule X:".
        log = run.stdout + run.stderr
        assert "localrule resolve_config:" in log
        expected = set(re.findall(r"^rule (\w+):$", log, flags=re.MULTILINE))
        if not expected:
            pytest.skip("the workflow has no non-local rule yet: nothing was submitted to SLURM")

        job_ids = _slurm_logs(on_slurm)
        assert set(job_ids) == expected, (
            f"SLURM logs for {sorted(job_ids)}, planned {sorted(expected)}"
        )
        states = _squeue_states(slurm_env)
        submitted = [i for ids in job_ids.values() for i in ids]
        assert all(states.get(i) == "COMPLETED" for i in submitted), (submitted, states)
        # Each job's own log is SLURM's stdout of that job: the jobstep reports the rule it ran.
        for rule, ids in job_ids.items():
            text = "".join(
                p.read_text()
                for p in (on_slurm / ".snakemake/slurm_logs" / f"rule_{rule}").rglob("*.log")
            )
            assert f"rule {rule}:" in text or f"localrule {rule}:" in text, text[-2000:]
            assert len(ids) == len(set(ids))

        base.wait(timeout=RUN_TIMEOUT_S + 60)
    assert base.returncode == 0, local.with_suffix(".log").read_text()[-6000:]
    assert not (local / ".snakemake" / "slurm_logs").exists()
    for workdir in (on_slurm, local):
        assert (workdir / "out" / "tables" / "table2.md").is_file(), workdir
    # The SLURM profile sets batch_splits: false (one job per split), which the resolved
    # config records; each split's results are the same either way.
    assert_same_outputs(local / "out", on_slurm / "out", skip=frozenset({"batch_splits"}))
