"""``--cfg @file``: config fragments written once under a name that is the hash of their text,
and read back by every step exactly as the same JSON given inline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmlego.cli import main
from mmlego.data.labels import write_labels
from mmlego.utils.config_arg import fragment_file, load_cfg

SPLITS_CFG = {"repeats": 2, "test_fraction": 0.25, "val_fraction": 0.25}


def test_equal_fragments_share_one_file_and_another_fragment_gets_its_own(tmp_path):
    first = fragment_file(tmp_path, {"b": [1, 2], "a": {"y": 1, "x": 0.5}})
    same = fragment_file(tmp_path, {"a": {"x": 0.5, "y": 1}, "b": [1, 2]})  # other key order
    other = fragment_file(tmp_path, {"a": {"x": 0.5, "y": 2}, "b": [1, 2]})
    assert first == same != other
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [first.rsplit("/", 1)[1], other.rsplit("/", 1)[1]]
    )
    text = '{"a": {"x": 0.5, "y": 1}, "b": [1, 2]}'
    assert Path(first).read_text() == text + "\n"
    assert first.endswith(f"/{hashlib.sha256(text.encode()).hexdigest()[:16]}.json")


def test_an_existing_fragment_file_is_left_as_it_is(tmp_path):
    path = fragment_file(tmp_path, SPLITS_CFG)
    before = (tmp_path / path.rsplit("/", 1)[1]).stat().st_mtime_ns
    assert fragment_file(tmp_path, dict(SPLITS_CFG)) == path
    assert (tmp_path / path.rsplit("/", 1)[1]).stat().st_mtime_ns == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_load_cfg_reads_a_file_or_inline_json(tmp_path):
    path = fragment_file(tmp_path, SPLITS_CFG)
    assert load_cfg(f"@{path}") == SPLITS_CFG
    assert load_cfg(json.dumps(SPLITS_CFG)) == SPLITS_CFG


def test_load_cfg_names_a_missing_or_broken_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"--cfg file {tmp_path}/none.json does not exist"):
        load_cfg(f"@{tmp_path}/none.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"repeats": ')
    with pytest.raises(ValueError, match=f"--cfg file {broken} is not valid JSON"):
        load_cfg(f"@{broken}")
    with pytest.raises(ValueError, match="--cfg is not valid JSON"):
        load_cfg("{repeats: 2}")


def test_a_step_given_its_fragment_as_a_file_writes_what_the_inline_json_writes(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    labels = tmp_path / "labels.parquet"
    ids = [f"p{i:02d}" for i in range(20)]
    frame = pd.DataFrame({"patient_id": ids, "label": np.tile([0, 1], 10)})
    write_labels(labels, frame, "binary", provenance={})
    args = ["splits", "--dataset", "toy", "--labels", str(labels), "--seed", "3"]
    cfg_file = fragment_file(tmp_path / ".config", SPLITS_CFG)
    assert main([*args, "--cfg", f"@{cfg_file}", "--out", str(tmp_path / "a.json")]) == 0
    assert main([*args, "--cfg", json.dumps(SPLITS_CFG), "--out", str(tmp_path / "b.json")]) == 0
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a == b and len(a["splits"]) == 2
    # The provenance holds the fragment itself, never the file's path.
    assert ".config" not in (tmp_path / "a.json").read_text()
    # A missing file fails the step with one line naming it.
    code = main([*args, "--cfg", f"@{tmp_path}/gone.json", "--out", str(tmp_path / "c.json")])
    err = capfd.readouterr().err
    assert code == 1 and not (tmp_path / "c.json").exists()
    assert f"splits failed: --cfg file {tmp_path}/gone.json does not exist" in err
