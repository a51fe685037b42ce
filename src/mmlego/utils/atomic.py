"""Atomic file writing: every output is written to a temporary sibling, then renamed.

A job killed mid-write leaves at most a ``.tmp-*`` file, never a truncated file at the
final path that a later run would trust as finished; the next attempt at the same output
removes it. A write that fails because the disk is full or read-only raises one ``OSError``
naming the final path and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The process's umask (read by setting it, so set it straight back): temporary files are
# created private, and get the permissions of a plain ``open`` before they are renamed.
UMASK = os.umask(0o022)
os.umask(UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary file keeps the final suffix so that libraries which infer the format
    from the extension (h5py, pyarrow, matplotlib) behave the same.
    """
    final = Path(path)
    with _storage_errors(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        prefix, suffix = f".tmp-{final.stem}-", final.suffix
        _remove_stale(final.parent, prefix, suffix)
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=final.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        tmp.chmod(0o666 & ~UMASK)  # mkstemp makes it private; outputs are shared like others
        try:
            yield tmp
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _remove_stale(folder: Path, prefix: str, suffix: str) -> None:
    """Delete what a killed earlier attempt at the same output left behind.

    Only the job that writes an output makes temporaries with its exact prefix and suffix
    (plus tempfile's 8 random characters), and snakemake never runs it twice at once.
    """
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}" + re.escape(suffix))
    for path in folder.glob(f"{glob.escape(prefix)}*"):
        if pattern.fullmatch(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


# Below this much free space after a failed write, the disk being full is taken as the cause
# (torch.save reports ENOSPC as a RuntimeError about a file position).
LOW_SPACE_BYTES = 1 << 20
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


@contextlib.contextmanager
def _storage_errors(final: Path) -> Iterator[None]:
    """Turn a failed write on a full or read-only file system into one clear ``OSError``."""
    try:
        yield
    except Exception as err:
        code = getattr(err, "errno", None)
        if code not in STORAGE_ERRNOS:
            if not (isinstance(err, OSError | RuntimeError) and _disk_nearly_full(final.parent)):
                raise
            code = errno.ENOSPC
        fix = (
            "make the output folder writable, or set output_dir to a writable folder, and rerun"
            if code == errno.EROFS
            else "free disk space (or set output_dir on a larger disk) and rerun"
        )
        raise OSError(code, f"cannot write {final}: {os.strerror(code)}; {fix}") from err


def _disk_nearly_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < LOW_SPACE_BYTES


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(
    path: str | os.PathLike[str], payload: Any, *, provenance: dict | None = None
) -> None:
    """Write a JSON document atomically; ``provenance`` (if given) is embedded under its key."""
    if provenance is not None:
        if not isinstance(payload, dict):
            raise TypeError("provenance can only be embedded in a JSON object")
        payload = {**payload, "provenance": provenance}
    write_text_atomic(
        path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
    )


def _json_default(value: Any) -> Any:
    """Serialise numpy scalars and arrays, and paths, which ``json`` refuses."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


@contextlib.contextmanager
def all_or_none(*paths: str | os.PathLike[str]) -> Iterator[None]:
    """Outputs written together: if the block fails, none of ``paths`` is left behind.

    Each file is still written atomically; this removes the ones already renamed into place
    when a later one fails (a step of ``mmlego batch`` leaves no half of its outputs).
    """
    try:
        yield
    except BaseException:
        for path in paths:
            Path(path).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only on success.

    For outputs that are whole folders (a folder of slides or images): a killed job leaves a
    ``.tmp-*`` folder, never a half-filled folder at the final path.
    """
    final = Path(path)
    with _storage_errors(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".tmp-{final.name}-"
        _remove_stale(final.parent, prefix, "")
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
        tmp.chmod(0o777 & ~UMASK)
        try:
            yield tmp
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
