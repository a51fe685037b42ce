"""Byte-reproducible writers for the generator's tables and its truth sidecars."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmlego.utils.atomic import atomic_path, write_bytes_atomic
from mmlego.utils.provenance import provenance

# Zip members carry a timestamp; a fixed one keeps the archive's bytes identical across runs.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The CSV text of ``frame`` (no index, ``\\n`` line ends, empty cells for missing)."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as CSV atomically; ``*.zip`` paths get a one-member zip archive.

    The member is named like the archive without ``.zip`` (``x.csv.zip`` holds ``x.csv``),
    which is what ``pandas.read_csv`` expects of a zipped CSV.
    """
    path = Path(path)
    data = csv_bytes(frame)
    if path.suffix == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            member = zipfile.ZipInfo(path.name.removesuffix(".zip"), date_time=_ZIP_EPOCH)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            archive.writestr(member, data)
        data = buffer.getvalue()
    write_bytes_atomic(path, data)


def write_truth(
    frame: pd.DataFrame, path: str | Path, *, source: str, params: dict[str, Any], seed: int
) -> None:
    """Write a truth sidecar (true per-patient factors) as parquet with provenance.

    Models never read these files; tests use them to check that the planted signal is there.
    The schema metadata ``mmlego`` holds the source, the generating parameters and provenance.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {
        "source": source,
        "params": params,
        "provenance": provenance(params, seed=seed, device="cpu"),
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"mmlego": json.dumps(meta, sort_keys=True).encode()}
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_truth(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A truth sidecar and its ``mmlego`` metadata (source, params, provenance)."""
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"mmlego"])
    return table.to_pandas(), meta
