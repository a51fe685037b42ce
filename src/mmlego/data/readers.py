"""Reading users' tables (CSV, TSV, parquet; plain, gzipped or zipped) with clear errors.

Id columns are read as the text written in the file (see :mod:`mmlego.data.ids`): a CSV
``0001`` stays ``0001`` and ``NA`` is an id, not a missing value; a parquet integer column
becomes its decimal text. Rows are named in errors as "data row N (1-based, header not
counted)", the same count for every format.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_PARQUET = (".parquet", ".pq")
_TSV = (".tsv", ".tab", ".txt")
_COMPRESSED = (".gz", ".zip", ".bz2", ".xz")


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last in _PARQUET:
        return "parquet"
    if last in _TSV:
        return "tsv"
    return "csv"


def listing(values: Iterable[object], limit: int = 10) -> str:
    """The first ``limit`` values, comma-separated, with a count of the rest."""
    items = [str(v) for v in values]
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def data_rows(positions: Iterable[int]) -> str:
    """``data row(s) N, …`` of 0-based row positions, counted alike in CSV, TSV and parquet."""
    numbers = [int(p) + 1 for p in positions]
    noun = "data row" if len(numbers) == 1 else "data rows"
    return f"{noun} {listing(numbers)} (1-based, header not counted)"


def _read_delimited(path: Path, sep: str, text_columns: Sequence[str]) -> pd.DataFrame:
    options = {"sep": sep, "compression": "infer"}
    frame = pd.read_csv(path, low_memory=False, dtype=dict.fromkeys(text_columns, str), **options)
    gaps = [c for c in text_columns if c in frame.columns and frame[c].isna().any()]
    if gaps:
        # pandas reads words such as "NA" or "null" as missing: read these columns again
        # without that rule, so that an id is its text and only an empty cell is empty.
        exact = pd.read_csv(path, usecols=gaps, dtype=str, keep_default_na=False, **options)
        frame[gaps] = exact[gaps]
    return frame


def _id_text(column: pa.ChunkedArray, name: str, source: str) -> pa.ChunkedArray:
    """An id column of a parquet file as text: strings as stored, integers in decimal."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    textual = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if textual or pa.types.is_integer(kind) or pa.types.is_null(kind):
        return column.cast(pa.string())
    raise ValueError(
        f"{source}: id column {name!r} holds {kind} values; ids must be stored as text or "
        "integers (a number such as 1.0 has no single written form): write the column as text"
    )


def _parquet_frame(table: pa.Table, text_columns: Sequence[str], source: str) -> pd.DataFrame:
    for name in text_columns:
        if name in table.column_names:
            i = table.column_names.index(name)
            table = table.set_column(i, name, _id_text(table.column(i), name, source))
    frame = table.to_pandas()
    # A column saved as the pandas index (``set_index("id").to_parquet()``) stays a column.
    return frame.reset_index(drop=all(n is None for n in frame.index.names))


def read_table(
    path: str | Path, *, what: str = "table", text_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV/TSV/parquet file (compression inferred); raise naming the file on failure.

    ``text_columns`` (ids) hold the text written in the file, with no number parsing and
    no missing-value words: an empty cell is ``""``. Rows keep the file's order, indexed
    0, 1, … (see :func:`data_rows`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; check the path in your config")
    fmt = _format(path)
    try:
        if fmt == "parquet":
            table = pq.read_table(path)
        else:
            frame = _read_delimited(path, "\t" if fmt == "tsv" else ",", text_columns)
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {path}: not UTF-8 text ({err}); re-save it as UTF-8") from err
    except (ValueError, OSError) as err:  # pandas' ParserError and ArrowInvalid are ValueErrors
        raise ValueError(f"{what} {path}: cannot be read as {fmt} ({err})") from err
    if fmt == "parquet":
        frame = _parquet_frame(table, text_columns, f"{what} {path}")
    # Index columns written by pandas without index=False carry no information.
    frame = frame.loc[:, [c for c in frame.columns if not str(c).startswith("Unnamed: ")]]
    frame.columns = [str(c) for c in frame.columns]
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, source: str) -> None:
    """Raise naming the file, the missing columns and the columns that exist."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(list(frame.columns)[:20])
        more = " …" if len(frame.columns) > 20 else ""
        raise ValueError(
            f"{source}: missing column(s) {missing}; the file has: {shown}{more}. "
            "Fix the column names in the file or in your config"
        )
