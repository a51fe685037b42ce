"""Provenance records embedded in every JSON, h5 and parquet output."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "mmlego",
    "torch",
    "monai",
    "numpy",
    "pandas",
    "scikit-learn",
    "scikit-survival",
    "h5py",
    "openslide-python",
    "openslide-bin",
    "snakemake",
)


def config_hash(config: Any) -> str:
    """SHA-256 of the canonical JSON form of ``config`` (key order does not matter)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def git_commit() -> str:
    """The commit of the source tree the package runs from, or ``"unknown"`` outside git."""
    source_dir = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=source_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a result."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def created_utc() -> str:
    """The time outputs are stamped with: now, or ``SOURCE_DATE_EPOCH`` when it is set (the
    reproducible-builds convention), so that two runs can be compared byte for byte."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        moment = dt.datetime.now(dt.UTC)
    else:
        try:
            moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC)
        except (ValueError, OverflowError, OSError):
            raise ValueError(
                f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time in whole seconds; "
                "set it to an integer (e.g. `date +%s`) or unset it"
            ) from None
    return moment.isoformat(timespec="seconds")


def provenance(
    config: Any = None, *, seed: int | None = None, device: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Build the provenance record: config hash, git commit, package versions, seed, device."""
    record: dict[str, Any] = {
        "config_hash": config_hash(config) if config is not None else None,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "seed": seed,
        "device": device,
        "created_utc": created_utc(),
        "host_platform": platform.platform(),
    }
    record.update(extra)
    return record


PROVENANCE_KEYS = ("config_hash", "git_commit", "packages", "seed", "device")


def has_provenance(record: Any) -> bool:
    """True when ``record`` carries every required provenance key."""
    return isinstance(record, dict) and all(key in record for key in PROVENANCE_KEYS)
