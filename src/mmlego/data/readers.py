"""Reading users' tables (CSV, TSV, parquet; plain, gzipped or zipped) with clear errors."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

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


def read_table(path: str | Path, *, what: str = "table") -> pd.DataFrame:
    """Read a CSV/TSV/parquet file (compression inferred); raise naming the file on failure."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; check the path in your config")
    fmt = _format(path)
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path, sep="\t" if fmt == "tsv" else ",", compression="infer", low_memory=False
            )
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {path}: not UTF-8 text ({err}); re-save it as UTF-8") from err
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise ValueError(f"{what} {path}: cannot be read as {fmt} ({err})") from err
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


def listing(values: Iterable[object], limit: int = 10) -> str:
    """The first ``limit`` values, comma-separated, with a count of the rest."""
    items = [str(v) for v in values]
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def ids_column(frame: pd.DataFrame, column: str, *, source: str) -> pd.Series:
    """The id column as stripped strings; raise naming the rows with an empty id."""
    require_columns(frame, [column], source=source)
    raw = frame[column]
    ids = raw.astype(str).str.strip()
    empty = raw.isna() | (ids == "")
    if empty.any():
        rows = [int(i) + 2 for i in frame.index[empty]]  # +2: header line, 1-based rows
        raise ValueError(f"{source}: empty id in column {column!r} at row(s) {listing(rows)}")
    return ids


def check_unique(ids: pd.Series, *, source: str, column: str) -> None:
    """Raise naming the duplicated ids of a one-row-per-patient file."""
    dupes = ids[ids.duplicated(keep=False)]
    if len(dupes):
        raise ValueError(
            f"{source}: duplicate ids in column {column!r}: {listing(sorted(set(dupes)))}; "
            "this file must have one row per patient"
        )


def check_known(ids: Iterable[str], known: Iterable[str], *, source: str) -> None:
    """Raise naming ids of a modality file that have no row in the labels."""
    known_set = set(known)
    unknown = sorted({i for i in ids if i not in known_set})
    if unknown:
        raise ValueError(
            f"{source}: id(s) not in the labels: {listing(unknown)}; add them to the label file "
            "or remove them from this file"
        )
