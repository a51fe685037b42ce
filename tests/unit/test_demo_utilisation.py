"""benchmarks/demo_utilisation.py: core use from hand-written Snakemake job records."""

from __future__ import annotations

import base64
import importlib
import json

import pytest

from tests.conftest import REPO


@pytest.fixture
def demo_utilisation(monkeypatch):
    """The script's module, imported as its folder's scripts import each other."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    return importlib.import_module("demo_utilisation")


def _record(folder, output, rule, job_hash, start, end, incomplete=False):
    """One metadata record as Snakemake writes it: named after the output's path in base64."""
    name = base64.b64encode(output.encode()).decode().replace("/", "@")
    record = {"rule": rule, "job_hash": job_hash, "starttime": start, "endtime": end}
    (folder / name).write_text(json.dumps({**record, "incomplete": incomplete}))


@pytest.fixture
def workdir(tmp_path):
    folder = tmp_path / ".snakemake" / "metadata"
    folder.mkdir(parents=True)
    t0 = 1_000.0
    # A batched job with two outputs: the same hash and end, starts microseconds apart.
    _record(folder, "a/split0.pt", "train", 1, t0, t0 + 10)
    _record(folder, "a/split1.pt", "train", 1, t0 + 1e-5, t0 + 10)
    _record(folder, "b.json", "metrics", 2, t0, t0 + 4)
    _record(folder, "c.json", "metrics", 3, t0 + 6, t0 + 10)
    _record(folder, "d.json", "metrics", 4, t0 + 2, None, incomplete=True)
    return tmp_path


def test_jobs_are_records_of_one_rule_and_hash_and_unfinished_ones_are_left_out(
    demo_utilisation, workdir
):
    jobs = demo_utilisation.read_jobs(workdir)
    assert [(j.rule, j.end - j.start) for j in jobs] == [
        ("metrics", 4.0),
        ("train", 10.0),
        ("metrics", 4.0),
    ]


def test_slot_use_and_idle_core_seconds_match_the_hand_computed_profile(demo_utilisation, workdir):
    # Running jobs: 2 over [0, 4], 1 over [4, 6], 2 over [6, 10] -> 18 of 20 core-seconds.
    summary = demo_utilisation.summarise(
        demo_utilisation.read_jobs(workdir), cores=2, cpu_s=5.0, cpu_jobs=1, wall_s=None
    )
    assert summary["span_s"] == 10.0
    assert summary["slot_use"] == 0.9
    assert summary["idle_core_s"] == 2.0
    assert summary["cpu_use_lower_bound"] == 0.25
    assert [t["slot_use"] for t in summary["timeline"]][4:6] == [0.5, 0.5]
    assert summary["rules"][0] == {
        "rule": "train", "jobs": 1, "job_s_total": 10.0, "job_s_max": 10.0
    }  # fmt: skip


def test_a_folder_without_records_names_the_option_to_fix(demo_utilisation, tmp_path):
    with pytest.raises(FileNotFoundError, match="--workdir"):
        demo_utilisation.read_jobs(tmp_path)
