"""profiles/slurm as snakemake reads it: env-var switches, GPU requests, lint, rule names."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from snakemake.profiles import ProfileConfigFileParser

from tests.conftest import BIN, REPO

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
SWITCHES = (
    "MMLEGO_SLURM_PARTITION",
    "MMLEGO_SLURM_GPU_PARTITION",
    "MMLEGO_SLURM_ACCOUNT",
    "MMLEGO_SLURM_GPUS",
    "MMLEGO_SLURM_GPU_MODEL",
)


def _parse(monkeypatch, **env: str) -> dict[str, object]:
    for key in SWITCHES:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with open(PROFILE) as handle:
        return ProfileConfigFileParser().parse(handle)


def _set_resources(parsed) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in parsed["set-resources"]:
        rule, assignment = item.split(":", 1)
        key, value = assignment.split("=", 1)
        out.setdefault(rule, {})[key] = value
    return out


def test_defaults_request_one_gpu_and_no_partition_or_account(monkeypatch):
    parsed = _parse(monkeypatch)
    assert parsed["executor"] == "slurm"
    defaults = dict(item.split("=", 1) for item in parsed["default-resources"])
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults
    assert defaults["cpus_per_task"] == "threads"
    rules = _set_resources(parsed)
    assert rules, "no per-rule resources"
    for rule, res in rules.items():
        assert res["gpu"] == "1", rule
        assert "slurm_partition" not in res and "gpu_model" not in res, rule


def test_environment_sets_partitions_account_and_gpu_model(monkeypatch):
    parsed = _parse(
        monkeypatch,
        MMLEGO_SLURM_PARTITION="cpu",
        MMLEGO_SLURM_GPU_PARTITION="gpu",
        MMLEGO_SLURM_ACCOUNT="lab42",
        MMLEGO_SLURM_GPUS="2",
        MMLEGO_SLURM_GPU_MODEL="a100",
    )
    defaults = dict(item.split("=", 1) for item in parsed["default-resources"])
    assert defaults["slurm_partition"] == "cpu"
    assert defaults["slurm_account"] == "lab42"
    for rule, res in _set_resources(parsed).items():
        assert (res["gpu"], res["gpu_model"], res["slurm_partition"]) == ("2", "a100", "gpu"), rule


def test_gpu_partition_falls_back_to_the_cpu_partition_and_zero_gpus_drops_the_model(monkeypatch):
    parsed = _parse(
        monkeypatch,
        MMLEGO_SLURM_PARTITION="shared",
        MMLEGO_SLURM_GPUS="0",
        MMLEGO_SLURM_GPU_MODEL="a100",
    )
    for rule, res in _set_resources(parsed).items():
        assert res["gpu"] == "0" and res["slurm_partition"] == "shared", rule
        assert "gpu_model" not in res, rule


def test_memory_and_time_grow_with_the_attempt(monkeypatch):
    """Retried jobs ask for more: every memory and time request is a multiple of `attempt`."""
    parsed = _parse(monkeypatch)
    assert int(parsed["retries"]) >= 1
    defaults = dict(item.split("=", 1) for item in parsed["default-resources"])
    requests = [defaults["mem_mb"], defaults["runtime"]] + [
        res[key] for res in _set_resources(parsed).values() for key in ("mem_mb", "runtime")
    ]
    assert all(expr.endswith("* attempt") for expr in requests), requests


def test_lint_is_clean_with_the_slurm_profile():
    env_path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--lint",
            "--profile",
            "profiles/slurm",
            "--workflow-profile",
            "none",
        ],
        cwd=REPO,
        env={**os.environ, "PATH": env_path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def _gpu_rules(text: str) -> set[str]:
    """Names of the rules in a rule file whose ``resources:`` declare a ``gpu``."""
    blocks = re.split(r"^(?:rule|checkpoint) (\w+):", text, flags=re.MULTILINE)
    return {
        name
        for name, body in zip(blocks[1::2], blocks[2::2], strict=True)
        if re.search(r"^\s+gpu=", body, re.M)
    }


def test_every_gpu_rule_is_in_the_profile():
    """A GPU rule missing from the profile would ask the CPU-only test node for a GPU and never
    get the GPU partition on a cluster: list it in ENCODE_RULES or TRAIN_RULES."""
    gpu_rules = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        gpu_rules |= _gpu_rules(path.read_text())
    if not gpu_rules:
        pytest.skip("no rule declares a gpu resource yet")
    listed = set(re.findall(r"'(\w+)'", PROFILE.read_text().split("executor:")[0]))
    missing = sorted(gpu_rules - listed)
    assert not missing, f"add {missing} to ENCODE_RULES/TRAIN_RULES in profiles/slurm/config.yaml"


def test_gpu_rule_finder_reads_rule_blocks():
    text = "rule a:\n    resources:\n        gpu=1,\n\n\nrule b:\n    threads: 1\n"
    assert _gpu_rules(text) == {"a"}


def test_test_overlay_polls_squeue_well_inside_the_test_clusters_min_job_age():
    """squeue forgets a job MinJobAge s after it ends; the plugin needs >= 3x its first delay."""
    with open(REPO / "profiles" / "slurm-test" / "config.yaml") as handle:
        overlay = ProfileConfigFileParser().parse(handle)
    script = (REPO / "scripts" / "slurm_local.sh").read_text()
    min_job_age = int(re.search(r"^MIN_JOB_AGE=(\d+)$", script, re.MULTILINE).group(1))
    assert overlay["slurm-status-command"] == "squeue"
    assert 3 * int(overlay["slurm-init-seconds-before-status-checks"]) <= min_job_age
    assert overlay["slurm-keep-successful-logs"] == "True"
    defaults = dict(item.split("=", 1) for item in overlay["default-resources"])
    assert "gpu" not in defaults and int(defaults["mem_mb"]) <= 2000


# Rules whose jobs take 1-2 CPU-seconds: on a cluster they must run on the submit host.
SUBMIT_HOST_RULES = {
    "resolve_config",
    "manifest",
    "splits",
    "modality_transforms",
    "transforms",
    "metrics",
    "ensemble",
    "interference_toy",
    "result_figures",
    "study_overview",
    "all",
}


def test_demo_plan_keeps_the_cheap_rules_off_the_scheduler(tmp_path):
    """The demo study's dry run with profiles/slurm: the per-split cheap jobs (hundreds of
    metrics) stay on the submit host; every other job is one SLURM submission."""
    out = tmp_path / "plan.json"
    result = subprocess.run(
        [
            str(BIN / "python"),
            str(REPO / "scripts" / "slurm_plan.py"),
            "--configfile",
            str(REPO / "config" / "config.yaml"),
            "--directory",
            str(tmp_path),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(out.read_text())
    rules = plan["rules"]
    assert rules["metrics"]["total"] >= 300
    for name, counts in rules.items():
        # A rule's jobs all run in one place: on the submit host, or each as its own SLURM job.
        assert counts["total"] in (counts["local"], counts["alone"]), (name, counts)
        if name in SUBMIT_HOST_RULES or (name.startswith("mimic_") and "extract" not in name):
            assert counts["local"] == counts["total"], (name, counts)
    for name in ("train", "fuse", "merge", "tables"):
        assert rules[name]["alone"] == rules[name]["total"] > 0, name
    assert plan["group_jobs"] == {}
    assert plan["submissions"] == sum(r["alone"] for r in rules.values())
    assert plan["submissions"] < plan["jobs"] / 2
    assert "SLURM submissions: " + str(plan["submissions"]) in result.stdout
