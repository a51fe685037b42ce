"""Locating and reading the raw MIMIC-III v1.4 CSV tables (plain or gzipped).

Column names are matched case-insensitively (the release uses upper case, database exports
often lower case). Timestamps become int64 seconds since the epoch, because the release's
shifted dates (years 2100-2200, and about 1800 for the date of birth of patients older than
89) do not all fit pandas' nanosecond range. A missing table or column raises naming the
file and the column.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mmlego.data.ids import retyped
from mmlego.data.readers import data_rows, listing

# Columns the extraction reads, by table; (name, arrow type) with "ts" for timestamps and
# "id" for SUBJECT_ID, the patient id: read as text, then checked to be the plain integer
# the release writes, so that the patient id (its decimal text) is the text in the file.
COLUMNS: dict[str, dict[str, str]] = {
    "PATIENTS": {"SUBJECT_ID": "id", "DOB": "ts", "DOD": "ts"},
    "ADMISSIONS": {
        "SUBJECT_ID": "id",
        "HADM_ID": "int64",
        "ADMITTIME": "ts",
        "DEATHTIME": "ts",
        "ADMISSION_TYPE": "string",
    },
    "ICUSTAYS": {
        "SUBJECT_ID": "id",
        "HADM_ID": "int64",
        "ICUSTAY_ID": "int64",
        "INTIME": "ts",
        "OUTTIME": "ts",
    },
    "DIAGNOSES_ICD": {"HADM_ID": "int64", "ICD9_CODE": "string"},
    "CHARTEVENTS": {
        "HADM_ID": "int64",
        "ICUSTAY_ID": "int64",
        "ITEMID": "int64",
        "CHARTTIME": "ts",
        "VALUENUM": "float64",
        "VALUEUOM": "category",
        "ERROR": "float64",
    },
    "LABEVENTS": {
        "HADM_ID": "int64",
        "ITEMID": "int64",
        "CHARTTIME": "ts",
        "VALUENUM": "float64",
        "VALUEUOM": "category",
    },
}
TABLES = tuple(COLUMNS)
_TYPES = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "id": pa.string(),
    # Unit strings repeat: dictionary-encoded while parsing, so a block holds a few codes.
    "category": pa.dictionary(pa.int32(), pa.string()),
    "ts": pa.timestamp("s"),
}


def table_path(mimic_dir: str | Path, table: str) -> Path:
    """``<table>.csv.gz`` if present, else ``<table>.csv``; raises naming both when neither exists."""
    base = Path(mimic_dir)
    for name in (f"{table}.csv.gz", f"{table}.csv"):
        if (base / name).exists():
            return base / name
    raise FileNotFoundError(
        f"{base}: MIMIC-III table {table} not found (looked for {table}.csv.gz and {table}.csv); "
        "point datasets.<ds>.mimic_dir at the folder of the v1.4 CSV tables"
    )


# A truncated or corrupt gzip download fails with these while its bytes are read.
READ_ERRORS = (EOFError, OSError, zlib.error)


def _unreadable(path: Path, err: Exception) -> ValueError:
    return ValueError(
        f"{path}: cannot read the file ({type(err).__name__}: {err}); it looks truncated or "
        "corrupt: re-download or re-extract it"
    )


def _header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    # Only the first line is decoded, so a bad byte further down is left to the CSV parser,
    # which names its table; a text-mode read would fail on any byte of its first buffer.
    try:
        with opener(path, "rb") as handle:
            raw = handle.readline()
    except READ_ERRORS as err:
        raise _unreadable(path, err) from err
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: the header line is not UTF-8 text ({err}); save the table as UTF-8 CSV"
        ) from err
    if not line.strip():
        raise ValueError(f"{path}: empty file, expected a CSV header")
    return [name.strip().strip('"') for name in line.rstrip("\r\n").split(",")]


def _resolve_columns(path: Path, table: str) -> dict[str, str]:
    """Canonical (upper-case) column -> the file's spelling; raises naming missing columns."""
    header = _header(path)
    present = {name.upper(): name for name in header}
    missing = [col for col in COLUMNS[table] if col not in present]
    if missing:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
            hint = "; the file uses another delimiter: MIMIC-III tables are comma-separated"
        raise ValueError(
            f"{path}: missing column(s) {missing} of the MIMIC-III v1.4 {table} table "
            f"(the file has {sorted(present.values())}){hint}"
        )
    return {col: present[col] for col in COLUMNS[table]}


def _options(path: Path, table: str) -> tuple[dict[str, str], pacsv.ConvertOptions]:
    names = _resolve_columns(path, table)
    convert = pacsv.ConvertOptions(
        include_columns=list(names.values()),
        column_types={names[c]: _TYPES[t] for c, t in COLUMNS[table].items()},
        strings_can_be_null=True,
    )
    return names, convert


def _integer_ids(arr: pa.ChunkedArray | pa.Array, column: str, source: Path) -> np.ndarray:
    """An id column written as plain integers, as int64 (-1 where empty); raise on other text.

    ``0001`` or ``1.0`` would become patient ``1``, an id that is not the one written.
    """
    text = pc.utf8_trim_whitespace(arr)
    plain = pc.fill_null(pc.match_substring_regex(text, r"^(0|[1-9][0-9]*)$"), True)
    if not pc.all(plain).as_py():
        bad = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
        shown = listing(f"{text[i].as_py()!r} (would be {retyped(text[i].as_py())!r})" for i in bad)
        raise ValueError(
            f"{source}: {column} must be a plain integer as in the MIMIC-III release, since "
            f"the patient id is its text; {data_rows(bad)} hold {shown}: write these ids "
            "as plain integers"
        )
    return pc.fill_null(pc.cast(text, pa.int64()), -1).to_numpy()


def _to_frame(
    batch: pa.RecordBatch | pa.Table, names: dict[str, str], table: str, source: Path
) -> pd.DataFrame:
    """Arrow columns -> a frame with canonical names; timestamps as int64 seconds (NaN-free)."""
    data: dict[str, np.ndarray] = {}
    for col, kind in COLUMNS[table].items():
        arr = batch.column(names[col])
        if kind == "id":
            data[col] = _integer_ids(arr, col, source)
        elif kind == "ts":
            data[col] = pc.fill_null(arr.cast(pa.int64()), np.iinfo(np.int64).min).to_numpy()
        elif kind == "int64":
            data[col] = pc.fill_null(arr, -1).to_numpy()
        elif kind == "category":
            data[col] = arr.to_pandas()
        else:
            data[col] = arr.to_numpy(zero_copy_only=False)
    return pd.DataFrame(data)


MISSING_TIME = np.iinfo(np.int64).min


def read_table(mimic_dir: str | Path, table: str) -> pd.DataFrame:
    """A small table read whole (PATIENTS, ADMISSIONS, ICUSTAYS, DIAGNOSES_ICD).

    Missing ids become -1 and missing timestamps :data:`MISSING_TIME`.
    """
    path = table_path(mimic_dir, table)
    names, convert = _options(path, table)
    try:
        data = pacsv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid as err:
        raise ValueError(f"{path}: cannot parse the {table} table ({err})") from err
    except READ_ERRORS as err:
        raise _unreadable(path, err) from err
    return _to_frame(data, names, table, path)


BYTES_PER_ROW = 100  # about the width of a CHARTEVENTS row of the release


def _byte_blocks(path: Path, block_bytes: int) -> Iterator[pa.Buffer]:
    """The file's data rows (header skipped) in blocks of whole lines.

    Reading ahead is ours to control: arrow's own streaming reader parses ahead of a slower
    consumer without bound, so its memory grows with the file.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            handle.readline()
            rest = b""
            while data := handle.read(block_bytes):
                data = rest + data if rest else data
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                if cut:
                    yield pa.py_buffer(memoryview(data)[:cut])
            if rest.strip():
                yield pa.py_buffer(rest)
    except READ_ERRORS as err:
        raise _unreadable(path, err) from err


def _read_ahead(blocks: Iterator[pa.Buffer]) -> Iterator[pa.Buffer]:
    """Read the next block in a background thread while the caller parses this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(next, blocks, None)
        while (block := upcoming.result()) is not None:
            upcoming = pool.submit(next, blocks, None)
            yield block


def stream_table(
    mimic_dir: str | Path, table: str, *, chunk_rows: int, itemids: np.ndarray
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Stream an event table in blocks; yield (rows in the block, rows whose ITEMID is mapped).

    A block holds about ``chunk_rows`` rows; arrow parses it with its CPU pool
    (``pyarrow.set_cpu_count``), rows are filtered by ITEMID in arrow, and only the mapped
    rows become a frame. One block is read ahead; memory is bounded by the block size, not
    by the file. A quoted
    value spanning lines is not supported (the release has none in the event tables).
    """
    path = table_path(mimic_dir, table)
    names, convert = _options(path, table)
    wanted = pa.array(np.asarray(itemids, dtype=np.int64))
    block_bytes = int(min(max(chunk_rows * BYTES_PER_ROW, 1 << 10), 1 << 30))
    read = pacsv.ReadOptions(column_names=_header(path))
    for block in _read_ahead(_byte_blocks(path, block_bytes)):
        try:
            batch = pacsv.read_csv(
                pa.BufferReader(block), read_options=read, convert_options=convert
            )
        except pa.ArrowInvalid as err:
            raise ValueError(f"{path}: cannot parse the {table} table ({err})") from err
        keep = pc.is_in(batch.column(names["ITEMID"]), value_set=wanted)
        yield batch.num_rows, _to_frame(batch.filter(keep), names, table, path)
