"""How many jobs a study sends to SLURM: snakemake's own dry run with profiles/slurm, per rule.

A dry run does not say which jobs would run on the submit host, so the local rules are read
from the loaded workflow (the rules with ``localrule: True``); a job that the profile puts in
a group is never local. Each rule's jobs are counted as run on the submit host, submitted
alone, or bundled into SLURM group jobs (one submission per group job).

    python scripts/slurm_plan.py --configfile config/config.yaml [--directory DIR]
        [--json plan.json] [-- extra snakemake arguments, e.g. --groups ...]

Jobs behind a checkpoint (the per-slide and per-shard encoding after `manifest`) appear only
once the checkpoint's output exists, as in any dry run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Job headers of snakemake's dry-run log: top-level jobs start in column 0, the members of a
# group job are indented under their "Group job" line.
JOB = re.compile(r"^(?P<indent> *)(?:local)?(?:rule|checkpoint) (?P<rule>\w+):$")
GROUP = re.compile(r"^\[[^\]]*\] Group job (?P<group>\S+) \(jobs in lexicogr\. order\):$")
STATS_TOTAL = re.compile(r"^total\s+(?P<n>\d+)$")


@dataclass
class RuleJobs:
    """One rule's jobs in a SLURM run."""

    local: int = 0
    alone: int = 0
    grouped: int = 0

    @property
    def total(self) -> int:
        return self.local + self.alone + self.grouped


@dataclass
class Plan:
    rules: dict[str, RuleJobs]
    group_jobs: dict[str, int]

    @property
    def submissions(self) -> int:
        """sbatch calls: every job submitted alone plus one per group job."""
        return sum(r.alone for r in self.rules.values()) + sum(self.group_jobs.values())

    @property
    def jobs(self) -> int:
        return sum(r.total for r in self.rules.values())

    def as_dict(self) -> dict:
        return {
            "jobs": self.jobs,
            "submissions": self.submissions,
            "on_submit_host": sum(r.local for r in self.rules.values()),
            "group_jobs": self.group_jobs,
            "rules": {name: {**asdict(r), "total": r.total} for name, r in self.rules.items()},
        }


def parse_dry_run(text: str, local_rules: set[str]) -> Plan:
    """Count the jobs of a dry-run log per rule and where each would run."""
    rules: dict[str, RuleJobs] = {}
    group_jobs: dict[str, int] = {}
    stats_total = None
    for line in text.splitlines():
        if match := GROUP.match(line):
            group_jobs[match["group"]] = group_jobs.get(match["group"], 0) + 1
        elif match := JOB.match(line):
            counts = rules.setdefault(match["rule"], RuleJobs())
            if match["indent"]:
                counts.grouped += 1
            elif match["rule"] in local_rules:
                counts.local += 1
            else:
                counts.alone += 1
        elif match := STATS_TOTAL.match(line.strip()):
            stats_total = int(match["n"])
    plan = Plan(rules, group_jobs)
    if stats_total is not None and stats_total != plan.jobs:
        raise ValueError(
            f"read {plan.jobs} jobs from the dry run but its job stats say {stats_total}: "
            "snakemake's log format changed; update the patterns in scripts/slurm_plan.py"
        )
    return plan


def local_rule_names(configfiles: list[Path], directory: Path) -> set[str]:
    """Names of the workflow's local rules, as snakemake loads them for this config."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet=None)) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=configfiles),
            snakefile=REPO / "Snakefile",
            workdir=directory,
        )
        workflow = workflow_api._workflow
        # snakemake keeps the `localrule: True` rules in this set (Workflow.is_local reads it).
        return {r.name for r in workflow.rules if r.name in workflow._localrules or r.norun}


def dry_run(configfiles: list[Path], directory: Path, extra: list[str]) -> str:
    """The dry-run log of the study under profiles/slurm."""
    cmd = [
        str(BIN / "snakemake"),
        "-n",
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--workflow-profile",
        "none",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(directory),
        "--configfile",
        *map(str, configfiles),
        *extra,
    ]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the dry run failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout + result.stderr


def format_plan(plan: Plan) -> str:
    rows = [f"{'rule':<40} {'jobs':>6} {'submit host':>11} {'alone':>6} {'grouped':>8}"]
    for name, r in sorted(plan.rules.items(), key=lambda item: (-item[1].total, item[0])):
        rows.append(f"{name:<40} {r.total:>6} {r.local:>11} {r.alone:>6} {r.grouped:>8}")
    groups = ", ".join(f"{g}: {n}" for g, n in sorted(plan.group_jobs.items())) or "none"
    rows.append(f"{'total':<40} {plan.jobs:>6}")
    rows.append(f"group jobs: {groups}")
    rows.append(f"SLURM submissions: {plan.submissions}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", type=Path, nargs="+", required=True)
    parser.add_argument("--directory", type=Path, default=REPO)
    parser.add_argument("--json", type=Path, help="also write the plan here as JSON")
    parser.add_argument("extra", nargs="*", help="more snakemake arguments (after --)")
    args = parser.parse_args(argv)
    configfiles = [p.resolve() for p in args.configfile]
    directory = args.directory.resolve()
    plan = parse_dry_run(
        dry_run(configfiles, directory, args.extra), local_rule_names(configfiles, directory)
    )
    print(format_plan(plan))
    if args.json:
        args.json.write_text(json.dumps(plan.as_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
