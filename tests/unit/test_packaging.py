"""The environment contract: the exact torch pin, the lock file, no torchvision or timm."""

from __future__ import annotations

import re
import tomllib


def _deps(repo):
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]


def test_torch_is_pinned_exactly(repo):
    torch_specs = [d for d in _deps(repo) if re.match(r"^torch\b", d)]
    assert torch_specs == ["torch==2.13.0"]


def test_lock_file_pins_every_package_and_torch(repo):
    lines = [
        line.strip()
        for line in (repo / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(re.match(r"^[A-Za-z0-9_.\-\[\]]+==[^=]+$", line) for line in lines), lines
    assert "torch==2.13.0" in lines


def test_no_torchvision_or_timm(repo):
    names = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in _deps(repo)}
    lock = (repo / "requirements.lock").read_text().lower()
    assert not names & {"torchvision", "timm"}
    assert "torchvision==" not in lock and "timm==" not in lock
