"""Caching on the finished tiny study: a no-op rerun runs nothing, and a config change reruns
exactly the jobs that read the changed keys and what is downstream of them (dry runs with the
local profile's rerun triggers: mtime, params, input, code)."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.reliability.study import planned, run, study_config, write_config

pytestmark = pytest.mark.slow


def test_a_noop_rerun_runs_no_job_and_is_quick(study_copy, record_property):
    assert planned(study_copy) == []
    start = time.monotonic()
    result = run(study_copy)
    seconds = time.monotonic() - start
    record_property("noop_rerun_seconds", round(seconds, 2))
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr
    # About 2 s on idle cores (docs/reliability.md); generous for a busy CI machine.
    assert seconds < 15


def test_config_fragments_are_no_inputs_deleted_they_are_written_again_and_rerun_nothing(
    study_copy,
):
    fragments = study_copy / "out" / ".config"
    names = sorted(p.name for p in fragments.iterdir())
    shutil.rmtree(fragments)
    assert planned(study_copy) == []
    # The plan wrote the same files again (names are hashes of the same texts).
    assert sorted(p.name for p in fragments.iterdir()) == names


def _set(section: str, key: str, value):
    def change(config):
        config.setdefault(section, {})[key] = value

    return change


TRAIN_AND_METRICS = {
    run: [f"metrics:{run}", f"train:{run}"]
    for run in ("lego_block.clinical", "lego_block.photos", "snn.clinical", "mcat")
}


@pytest.mark.parametrize(
    ("change", "runs"),
    [
        (lambda c: c["baselines"]["mcat"].update(groups=3), ["mcat"]),
        (_set("baselines", "dropout", 0.2), ["snn.clinical", "mcat"]),
        (_set("lego", "latent_len", 6), ["lego_block.clinical", "lego_block.photos"]),
        (_set("fuse", "epochs", 3), []),  # LegoFuse's key: no LegoFuse in this study
        (_set("merge", "magnitude", "mean"), []),
    ],
    ids=["mcat-groups", "baselines-dropout", "lego-latent-len", "train-fuse-epochs", "merge"],
)
def test_a_model_config_change_reruns_only_that_model_and_its_metrics(study_copy, change, runs):
    config = study_config()
    change(config)
    write_config(study_copy, config)
    assert planned(study_copy) == sorted(j for r in runs for j in TRAIN_AND_METRICS[r])
