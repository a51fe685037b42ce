"""``batch_splits``: the demo's train jobs, one per (dataset, run) or one per split, as
snakemake's dry run plans them; profiles/slurm asks for one per split."""

from __future__ import annotations

import re
import shutil

import pytest
from snakemake.profiles import ProfileConfigFileParser

from tests.conftest import REPO, run_snakemake

PLAN_FILE = REPO / "tests" / "e2e" / "data" / "plan_demo.tsv"


def recorded_train_runs() -> list[tuple[str, str, str]]:
    """(dataset, run, split) of every model the recorded demo plan trains."""
    found = []
    for line in PLAN_FILE.read_text().splitlines():
        rule, path = line.split("\t")
        if rule == "train" and path.endswith("/model.pt"):
            ds, run, split = path.split("/")[-4:-1]
            found.append((ds, run, split))
    return found


def planned_jobs(workdir, *extra: str) -> dict[str, int]:
    """Jobs per rule of the demo study's dry run (snakemake's job stats table)."""
    if not (workdir / "config").exists():
        shutil.copytree(REPO / "config", workdir / "config")
    # The local profile is quiet about rules; --quiet host brings the job stats table back.
    result = run_snakemake("-n", "--cores", "1", "--quiet", "host", *extra, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def runs() -> list[tuple[str, str, str]]:
    found = recorded_train_runs()
    # 54 (dataset, run) pairs of the demo's 4 datasets, each on 5 splits.
    assert len({(ds, run) for ds, run, _ in found}) == 54 and len(found) == 270
    return found


@pytest.fixture(scope="module")
def batched(tmp_path_factory) -> dict[str, int]:
    """The demo's jobs per rule with the config's default, ``batch_splits: true``."""
    return planned_jobs(tmp_path_factory.mktemp("batched"))


def test_batched_splits_make_one_train_job_per_dataset_and_run(batched, runs):
    assert batched["train"] == len({(ds, run) for ds, run, _ in runs})


def test_unbatched_splits_make_one_train_job_per_split(tmp_path, batched, runs):
    jobs = planned_jobs(tmp_path, "--config", "batch_splits=False")
    assert jobs["train"] == len(runs)
    # The other rules plan the same jobs either way.
    assert {r: n for r, n in jobs.items() if r != "train"} == {
        r: n for r, n in batched.items() if r != "train"
    }


def test_the_slurm_profile_turns_batching_off():
    with open(REPO / "profiles" / "slurm" / "config.yaml") as handle:
        parsed = ProfileConfigFileParser().parse(handle)
    assert parsed["config"] == ["batch_splits=False"]
