"""What a user sees when one value of their label file is bad (issue 20 item 4): the step's
one-line message once, near the end, in fewer than 30 lines, and no retry, even with the
SLURM profile's `retries: 2`; the failing command snakemake prints passes the dataset's config
as a short `--cfg @file`, not as inline JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from mmlego.demo.slides import write_slide
from tests.conftest import run_snakemake

N = 12
MESSAGE = (
    "read-tables failed: label file labels.csv: event must be 0 (censored) or 1 (event); "
    "other values for patients p02"
)

IDS = [f"p{i:02d}" for i in range(N)]


def _write_study(folder, events, **extra_modalities) -> dict:
    """A 12-patient survival study in ``folder``: labels.csv with ``events``, clinical.csv,
    any extra modality entries, and study.yaml; returns the study's config."""
    pd.DataFrame({"patient_id": IDS, "months": np.linspace(1, 30, N), "dead": events}).to_csv(
        folder / "labels.csv", index=False
    )
    pd.DataFrame({"patient_id": IDS, "age": np.arange(N, dtype=float)}).to_csv(
        folder / "clinical.csv", index=False
    )
    study = {
        "output_dir": "out",
        "models": ["lego_block"],
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "survival",
                "labels": {"path": "labels.csv", "time": "months", "event": "dead"},
                "modalities": {
                    "clin": {"type": "tabular", "path": "clinical.csv"},
                    **extra_modalities,
                },
            }
        },
    }
    (folder / "study.yaml").write_text(yaml.safe_dump(study))
    return study


@pytest.mark.parametrize(
    "retries", [[], ["--retries", "2"]], ids=["local-profile", "slurm-profile-retries"]
)
def test_a_bad_label_file_prints_its_message_once_in_few_lines(tmp_path, retries):
    study = _write_study(tmp_path, events=[0, 1, 2] + [1] * (N - 3))  # p02's event is 2
    # The whole study, as a user runs it, under the default (local) profile.
    done = run_snakemake("--cores", "1", "--configfile", "study.yaml", *retries, cwd=tmp_path)
    output = done.stdout + done.stderr
    lines = output.splitlines()
    assert done.returncode != 0
    assert output.count(MESSAGE) == 1, output
    assert len(lines) < 30, output
    assert any(MESSAGE in line for line in lines[-10:]), output  # near the end
    assert "Trying to restart job" not in output
    # The job's log holds the message once too: one attempt.
    assert (tmp_path / "out/logs/mine/tables.log").read_text().count(MESSAGE) == 1
    # The failing command names the dataset's config fragment, a file written when the jobs
    # were planned; no JSON is printed.
    (command,) = [line for line in lines if "mmlego --log" in line]
    (cfg,) = re.findall(r"--cfg @(out/\.config/[0-9a-f]{16}\.json) ", command)
    # The labels job's part of the dataset's section (defaults filled), and no modality's
    # entry: editing a modality leaves the labels job as it is.
    fragment = json.loads((tmp_path / cfg).read_text())
    assert fragment["labels"] == {**study["datasets"]["mine"]["labels"], "id": "patient_id"}
    assert fragment["modalities"] == {}
    assert '{"' not in output


def test_an_unreadable_slide_fails_the_manifest_once_and_is_never_encoded(tmp_path):
    """A slide that cannot be opened is found by the manifest step (``retries: 0``), not by its
    encoding job, which a cluster profile retries: one message, even with ``--retries 2``."""
    write_slide(tmp_path / "good.tif", size=256, seed=0)
    (tmp_path / "scan.svs").write_text("an export that went wrong\n")
    pd.DataFrame({"patient_id": IDS[:2], "path": ["good.tif", "scan.svs"]}).to_csv(
        tmp_path / "slides.csv", index=False
    )
    _write_study(tmp_path, events=[1] * N, slides={"type": "wsi", "manifest": "slides.csv"})
    done = run_snakemake(
        "--cores", "1", "--configfile", "study.yaml", "--retries", "2", cwd=tmp_path
    )
    output = done.stdout + done.stderr
    message = (
        "manifest failed: mine/slides: 1 of 2 slides cannot be encoded; fix or remove each file "
        f"(and its manifest row), then rerun. {tmp_path / 'scan.svs'}: not a slide format "
        "OpenSlide can read"
    )
    assert done.returncode != 0
    assert output.count(message) == 1, output
    assert "Trying to restart job" not in output
    lines = output.splitlines()
    # The checkpoint's DAG update adds a few of snakemake's lines to the label case's budget.
    assert len(lines) < 40, output
    assert any(message in line for line in lines[-15:]), output  # near the end
    assert not (tmp_path / "out/mine/manifests/slides.csv").exists()
    assert not (tmp_path / "out/mine/features").exists()
