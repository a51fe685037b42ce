"""Rules run under the venv's snakemake when the venv is not activated (issue 20 item 7)."""

from __future__ import annotations

import os
import shutil

import yaml

from tests.conftest import demo_study, run_snakemake


def test_rules_find_mmlego_beside_the_interpreter_running_snakemake(tmp_path):
    # PATH without the venv: what a user has who calls .venv/bin/snakemake directly.
    path = os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if os.path.isdir(p))
    assert shutil.which("mmlego", path=path) is None, "precondition: mmlego must not be on PATH"
    out = tmp_path / "study"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(demo_study(out)))
    target = out / "config.resolved.yaml"
    done = run_snakemake(
        "--configfile", str(config), "--cores", "1", str(target), cwd=tmp_path, path=path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = yaml.safe_load(target.read_text())
    assert resolved["output_dir"] == str(out)
