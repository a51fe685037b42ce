"""Compare two runs' output trees by content: equal data, ignoring provenance and timings.

Provenance records (creation time, host) and wall-clock columns legitimately differ between
two runs of the same study; everything else must match (floats to a tight tolerance, since
SLURM and local jobs may use different thread counts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import yaml

# Keys and columns that record when, where, how fast or how much memory, not what.
VOLATILE = {"provenance", "runtime"}
VOLATILE_SUFFIXES = ("seconds", "_per_second", "_utc", "_rss_mb", "_s")


def _volatile(key: object) -> bool:
    return isinstance(key, str) and (key in VOLATILE or key.endswith(VOLATILE_SUFFIXES))


# Not results: logs, timings, the config fragments the rules pass as `--cfg @file` (their
# names and texts follow the config, e.g. its batch_splits or output folder), and the report
# pages, which show the resolved config (its output folder, batch_splits and hash).
SKIP_DIRS = {"logs", "benchmarks", ".config", "report"}
RTOL, ATOL = 1e-5, 1e-7


def _files(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts[:-1])
    }


def _strip(value: Any, skip: frozenset[str] = frozenset()) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, skip) for k, v in value.items() if not (_volatile(k) or k in skip)}
    if isinstance(value, list):
        return [_strip(v, skip) for v in value]
    return value


def _assert_close(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _frames(a: pd.DataFrame, b: pd.DataFrame, where: str) -> None:
    a = a.drop(columns=[c for c in a.columns if _volatile(c)])
    b = b.drop(columns=[c for c in b.columns if _volatile(c)])
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=RTOL, atol=ATOL)
    except AssertionError as err:
        raise AssertionError(f"{where}: {err}") from None


def _h5(a: Path, b: Path, where: str) -> None:
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        assert names_a == names_b, f"{where}: members differ"
        for name in [None, *names_a]:
            oa, ob = (fa, fb) if name is None else (fa[name], fb[name])
            attrs_a = {k: v for k, v in oa.attrs.items() if not _volatile(k)}
            attrs_b = {k: v for k, v in ob.attrs.items() if not _volatile(k)}
            assert attrs_a.keys() == attrs_b.keys(), f"{where}:{name} attrs differ"
            for key in attrs_a:
                np.testing.assert_array_equal(attrs_a[key], attrs_b[key], f"{where}:{name}@{key}")
            if isinstance(oa, h5py.Dataset):
                x, y = oa[()], ob[()]
                if np.issubdtype(np.asarray(x).dtype, np.floating):
                    np.testing.assert_allclose(
                        x, y, rtol=RTOL, atol=ATOL, err_msg=f"{where}:{name}"
                    )
                else:
                    np.testing.assert_array_equal(x, y, f"{where}:{name}")


def _torch(a: Path, b: Path, where: str) -> None:
    import torch

    ca = torch.load(a, map_location="cpu", weights_only=True)
    cb = torch.load(b, map_location="cpu", weights_only=True)
    assert ca.keys() == cb.keys(), f"{where}: keys differ"
    for key in ca:
        if key == "state_dict":
            assert ca[key].keys() == cb[key].keys(), f"{where}: parameters differ"
            for name, tensor in ca[key].items():
                torch.testing.assert_close(tensor, cb[key][name], rtol=RTOL, atol=ATOL)
        else:
            _assert_close(_strip(ca[key]), _strip(cb[key]), f"{where}:{key}")


def assert_same_file(a: Path, b: Path, where: str, skip: frozenset[str] = frozenset()) -> None:
    """Content equality of one output file, by format (a JSON or YAML key in ``skip`` aside)."""
    name = a.name
    if name.endswith(".json"):
        _assert_close(
            _strip(json.loads(a.read_text()), skip), _strip(json.loads(b.read_text()), skip), where
        )
    elif name.endswith((".yaml", ".yml")):
        _assert_close(
            _strip(yaml.safe_load(a.read_text()), skip),
            _strip(yaml.safe_load(b.read_text()), skip),
            where,
        )
    elif name.endswith(".parquet"):
        _frames(pd.read_parquet(a), pd.read_parquet(b), where)
    elif name.endswith((".csv", ".tsv")) and not (a.read_text().strip() and b.read_text().strip()):
        # An empty table (no header, at most a newline) has nothing to parse: compare the bytes.
        assert a.read_bytes() == b.read_bytes(), where
    elif name.endswith((".csv", ".tsv")):
        sep = "\t" if name.endswith(".tsv") else ","
        _frames(pd.read_csv(a, sep=sep), pd.read_csv(b, sep=sep), where)
    elif name.endswith(".h5"):
        _h5(a, b, where)
    elif name.endswith(".pt"):
        _torch(a, b, where)
    else:
        assert a.read_bytes() == b.read_bytes(), f"{where}: bytes differ"


def assert_same_outputs(
    expected_root: Path, actual_root: Path, skip: frozenset[str] = frozenset()
) -> None:
    """The same files under both roots (logs and benchmarks aside), with equal contents (the
    JSON and YAML keys in ``skip`` aside)."""
    expected, actual = _files(expected_root), _files(actual_root)
    assert expected == actual, (
        f"only in {expected_root}: {sorted(map(str, expected - actual))}; "
        f"only in {actual_root}: {sorted(map(str, actual - expected))}"
    )
    for rel in sorted(expected):
        assert_same_file(expected_root / rel, actual_root / rel, str(rel), skip)
