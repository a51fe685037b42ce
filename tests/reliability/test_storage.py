"""The atomic-write layer on a full or read-only disk, simulated at the layer (the real
tmpfs cases are in test_faults.py), output permissions, and how the CLI reports them."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
import torch

import mmlego.utils.atomic as atomic
from mmlego.cli import expected_failure
from mmlego.data.splits import check_disjoint
from mmlego.predictions import read_split_sets
from mmlego.utils.atomic import atomic_dir, atomic_path, write_json_atomic


def test_disk_full_during_a_write_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    final = tmp_path / "out" / "metrics.json"

    def half_then_full(self, data, **kwargs):  # the disk fills up in the middle of the file
        with open(self, "w") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(
        OSError, match=r"cannot write .*metrics\.json: No space left on device; free"
    ) as err:
        write_json_atomic(final, {"auc": 0.5})
    assert err.value.errno == errno.ENOSPC and str(final) in str(err.value)
    assert list(final.parent.iterdir()) == []


def test_read_only_folder_names_the_file(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(atomic.tempfile, "mkdtemp", read_only)
    for writer in (atomic_path, atomic_dir):
        with (
            pytest.raises(OSError, match="Read-only file system; make the output folder") as err,
            writer(tmp_path / "x.h5"),
        ):
            pass
        assert err.value.errno == errno.EROFS and str(tmp_path / "x.h5") in str(err.value)


@pytest.mark.parametrize("nearly_full", [True, False])
def test_torch_save_on_a_full_disk_is_reported_as_full(tmp_path, monkeypatch, nearly_full):
    # torch.save reports ENOSPC as "RuntimeError: [enforce fail ...] unexpected pos"; the free
    # space decides whether that means a full disk.
    monkeypatch.setattr(atomic, "_disk_nearly_full", lambda folder: nearly_full)
    final = tmp_path / "model.pt"
    expected = OSError if nearly_full else RuntimeError
    with pytest.raises(expected) as err, atomic_path(final):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704")
    assert (err.value.errno == errno.ENOSPC) if nearly_full else "unexpected pos" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_never_taken_for_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_disk_nearly_full", lambda folder: True)
    with pytest.raises(ValueError, match="bad row"), atomic_path(tmp_path / "a.parquet"):
        raise ValueError("bad row")


def test_outputs_get_the_permissions_of_a_plain_open(tmp_path):
    # mkstemp/mkdtemp create private (0600/0700) files; a shared project folder needs the
    # usual umask-based modes.
    with atomic_path(tmp_path / "model.pt") as tmp:
        torch.save({"a": torch.zeros(1)}, tmp)
    with atomic_dir(tmp_path / "shard0") as folder:
        (folder / "x").write_text("x")
    (tmp_path / "plain").write_text("x")
    (tmp_path / "plain_dir").mkdir()
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "model.pt") == mode(tmp_path / "plain") == 0o666 & ~atomic.UMASK
    assert mode(tmp_path / "shard0") == mode(tmp_path / "plain_dir") == 0o777 & ~atomic.UMASK


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (OSError(errno.ENOSPC, "cannot write x"), True),
        (OSError(errno.EROFS, "cannot write x"), True),
        (OSError(errno.EDQUOT, "cannot write x"), True),
        (OSError(errno.EIO, "Input/output error"), False),  # a real fault: keep the traceback
        (ValueError("bad"), True),
        (TypeError("a bug"), False),
    ],
)
def test_cli_reports_storage_errors_in_one_line(err, expected):
    assert expected_failure(err) is expected


def test_metrics_refuse_a_split_with_a_patient_in_two_sets(tmp_path):
    path = tmp_path / "splits.json"
    sets = {"train": ["a", "b"], "val": ["c"], "test": ["d", "b"]}
    path.write_text(json.dumps({"splits": [sets]}))
    with pytest.raises(ValueError, match="patient b is in both train and test of split 0"):
        read_split_sets(path, 0)
    with pytest.raises(ValueError, match="patient c is in both val and val"):
        check_disjoint({"train": [], "val": ["c", "c"], "test": []}, path, 0)


def test_a_killed_attempts_temporaries_are_removed_by_the_next_attempt(tmp_path):
    # What a SIGKILL mid-write leaves: a temp file and a temp folder of these two outputs,
    # beside another output's temporaries (which must stay).
    stale_file = tmp_path / ".tmp-model-ab12cd_3.pt"
    stale_dir = tmp_path / ".tmp-shard0-zz99yy00"
    other = tmp_path / ".tmp-model-b-ab12cd_3.pt"  # the output model-b.pt's, still running
    stale_file.write_bytes(b"half")
    stale_dir.mkdir()
    (stale_dir / "a.h5").write_bytes(b"half")
    other.write_bytes(b"half")
    with atomic_path(tmp_path / "model.pt") as tmp:
        tmp.write_bytes(b"whole")
    with atomic_dir(tmp_path / "shard0") as folder:
        (folder / "a.h5").write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "model.pt", "shard0"]
