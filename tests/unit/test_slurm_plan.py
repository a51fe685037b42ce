"""scripts/slurm_plan.py: reading snakemake's dry-run log into jobs per rule and SLURM calls."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("slurm_plan", REPO / "scripts" / "slurm_plan.py")
slurm_plan = importlib.util.module_from_spec(_spec)
# dataclasses look their module up in sys.modules while the module executes.
sys.modules["slurm_plan"] = slurm_plan
_spec.loader.exec_module(slurm_plan)

# Shaped like snakemake 9's dry-run log: two single jobs of `train`, a local `metrics` job,
# a checkpoint, and one group job of two `merge` jobs (indented members).
LOG = """Building DAG of jobs...
Job stats:
job         count
--------  -------
train           2
metrics         1
manifest        1
merge           2
all             1
total           7

[Mon Nov 23 13:00:21 2026]
rule train:
    output: a/model.pt
    jobid: 3
Shell command: mmlego train --out a

[Mon Nov 23 13:00:21 2026]
rule train:
    output: b/model.pt
    jobid: 4

[Mon Nov 23 13:00:21 2026]
checkpoint manifest:
    output: m.csv

[Mon Nov 23 13:00:21 2026]
rule metrics:
    output: a/metrics.json

[Mon Nov 23 13:00:22 2026] Group job lego_merge (jobs in lexicogr. order):

    [Mon Nov 23 13:00:22 2026]
    rule merge:
        output: a/merge.pt
Shell command: mmlego merge --split 0

    [Mon Nov 23 13:00:22 2026]
    rule merge:
        output: b/merge.pt

[Mon Nov 23 13:00:23 2026]
rule all:
    input: a/metrics.json
Job stats:
job         count
--------  -------
total           7
"""


def test_counts_local_single_and_grouped_jobs_per_rule():
    plan = slurm_plan.parse_dry_run(LOG, local_rules={"metrics", "manifest", "all"})
    counts = {name: (r.local, r.alone, r.grouped) for name, r in plan.rules.items()}
    assert counts == {
        "train": (0, 2, 0),
        "manifest": (1, 0, 0),
        "metrics": (1, 0, 0),
        "merge": (0, 0, 2),
        "all": (1, 0, 0),
    }
    assert plan.group_jobs == {"lego_merge": 1}
    # Two trains alone plus one group job; the three local jobs are no SLURM call.
    assert plan.submissions == 3
    assert plan.jobs == 7
    summary = plan.as_dict()
    assert summary["on_submit_host"] == 3 and summary["rules"]["merge"]["total"] == 2


def test_a_rule_that_is_not_local_is_submitted():
    plan = slurm_plan.parse_dry_run(LOG, local_rules={"all"})
    assert (plan.rules["metrics"].alone, plan.rules["manifest"].alone) == (1, 1)
    assert plan.submissions == 5


def test_a_log_it_cannot_read_fully_is_an_error():
    """If snakemake's log format changes, the counts disagree with its job stats: fail loudly."""
    broken = LOG.replace("rule train:\n    output: b", "job train:\n    output: b")
    with pytest.raises(ValueError, match="read 6 jobs from the dry run but its job stats say 7"):
        slurm_plan.parse_dry_run(broken, local_rules=set())


def test_table_lists_rules_by_job_count_and_the_submissions():
    plan = slurm_plan.parse_dry_run(LOG, local_rules={"metrics", "manifest", "all"})
    lines = slurm_plan.format_plan(plan).splitlines()
    # Most jobs first, ties by name.
    assert [line.split()[0] for line in lines[1:6]] == [
        "merge",
        "train",
        "all",
        "manifest",
        "metrics",
    ]
    assert lines[-1] == "SLURM submissions: 3"
    assert lines[-2] == "group jobs: lego_merge: 1"
