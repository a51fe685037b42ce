"""``batch_splits``: the demo's per-split jobs (train, metrics, ensembles, combinations,
classical models, the merge ablation), one per (dataset, run) or one per split, as
snakemake's dry run plans them; profiles/slurm asks for one per split."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest
from snakemake.profiles import ProfileConfigFileParser

from tests.conftest import REPO, run_snakemake

PLAN_FILE = REPO / "tests" / "e2e" / "data" / "plan_demo.tsv"
# The rules whose jobs batch_splits makes one per (dataset, run) instead of one per split.
BATCHED_RULES = (
    "train", "metrics", "ensemble", "merge", "merge_adaptive", "naive_mc", "damc", "fuse",
    "classical", "merge_ablation",
)  # fmt: skip


# A job of several runs (runs_per_job): a rule of its own, named by its rule, dataset, number.
CHUNK = re.compile(r"^(train|metrics)_[A-Za-z][A-Za-z0-9_]*_\d+$")


def base_rule(rule: str) -> str:
    """The rule whose runs a job rule of several runs takes (``metrics_tcga_0`` -> metrics)."""
    chunk = CHUNK.match(rule)
    return chunk.group(1) if chunk else rule


def recorded_runs(per_split: bool) -> Counter[str]:
    """Runs per batched rule of the recorded demo plan: one per folder of a run (or the merge
    ablation of a dataset) and, with ``per_split``, per split of it."""
    runs = set()
    for line in PLAN_FILE.read_text().splitlines():
        rule, path = line.split("\t")
        if base_rule(rule) in BATCHED_RULES:
            split = re.search(r"/split\d+", path)
            runs.add((base_rule(rule), path[: split.end() if per_split else split.start()]))
    return Counter(rule for rule, _ in runs)


def recorded_jobs() -> Counter[str]:
    """Batched jobs per batched rule of the recorded plan: one per run, but one per job rule
    for the runs such a rule takes together."""
    jobs = set()
    for line in PLAN_FILE.read_text().splitlines():
        rule, path = line.split("\t")
        if base_rule(rule) in BATCHED_RULES:
            job = rule if CHUNK.match(rule) else path[: re.search(r"/split\d+", path).start()]
            jobs.add((base_rule(rule), job))
    return Counter(rule for rule, _ in jobs)


def by_base_rule(jobs: dict[str, int]) -> Counter[str]:
    """Jobs per rule, a job rule of several runs counted under the rule of its runs."""
    counted: Counter[str] = Counter()
    for rule, n in jobs.items():
        counted[base_rule(rule)] += n
    return counted


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
def batched(tmp_path_factory) -> dict[str, int]:
    """The demo's jobs per rule with the config's default, ``batch_splits: true``."""
    return planned_jobs(tmp_path_factory.mktemp("batched"))


@pytest.fixture(scope="module")
def unbatched(tmp_path_factory) -> dict[str, int]:
    """The demo's jobs per rule with ``batch_splits: false``."""
    return planned_jobs(tmp_path_factory.mktemp("unbatched"), "--config", "batch_splits=False")


def test_the_recorded_plan_has_five_splits_of_every_batched_job():
    per_run, per_split = recorded_runs(per_split=False), recorded_runs(per_split=True)
    assert set(per_run) == set(BATCHED_RULES)
    assert {rule: 5 * n for rule, n in per_run.items()} == per_split
    # 54 trained (dataset, run) pairs of the demo's 4 datasets, NaiveMC and DAMC on each of
    # its 4 datasets; every run is scored.
    assert per_run["train"] == 54
    made = [r for r in BATCHED_RULES if r not in ("metrics", "merge_ablation")]
    assert per_run["metrics"] == sum(per_run[r] for r in made) == 86


def test_metrics_of_several_runs_share_a_job():
    jobs = recorded_jobs()
    # runs_per_job.metrics: 8. Per dataset, the runs that read no bag and those that do
    # (which wait for the slides or images), each in as few jobs of near-equal size as 8
    # allows: icd9 and mort 20 runs, none with a bag -> 3 jobs each (6, 7, 7 runs); tcga 9
    # without + 17 with -> 2 + 3; isic 3 + 17 -> 1 + 3.
    assert jobs["metrics"] == 3 + 3 + 5 + 4
    # runs_per_job.train: 1, so one job per trained run.
    assert jobs["train"] == 54


def test_batched_splits_make_one_job_per_dataset_and_run(batched):
    assert {rule: by_base_rule(batched)[rule] for rule in BATCHED_RULES} == recorded_jobs()


def test_unbatched_splits_make_one_job_per_split(batched, unbatched):
    assert {rule: unbatched[rule] for rule in BATCHED_RULES} == recorded_runs(per_split=True)
    # The other rules plan the same jobs either way; no job takes several runs.
    assert set(unbatched) == set(by_base_rule(unbatched))
    others = set(by_base_rule(batched)) - set(BATCHED_RULES)
    assert {r: unbatched[r] for r in others} == {r: batched[r] for r in others}
    assert set(unbatched) == set(by_base_rule(batched))


def test_the_slurm_profile_turns_batching_off():
    with open(REPO / "profiles" / "slurm" / "config.yaml") as handle:
        parsed = ProfileConfigFileParser().parse(handle)
    assert parsed["config"] == ["batch_splits=False"]
