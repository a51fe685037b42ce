"""Bad label and MIMIC tables: one error naming the file and the rows/columns, and no output
file of the failing step; messy-but-valid MIMIC data is counted and warned about, not fatal."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmlego.cli import main
from mmlego.data.labels import write_labels
from tests.unit.mimic_tables import write_database

SURVIVAL = pd.DataFrame(
    {"patient_id": ["p1", "p2", "p3"], "time": [5.0, 12.5, 3.0], "event": [1, 0, 1]}
)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("time", np.nan, "survival time is missing"),
        ("time", -2.0, "zero or negative"),
        ("time", "soon", "non-numeric"),
        ("event", 2, "event must be 0 (censored) or 1"),
        ("event", np.nan, "event must be 0 (censored) or 1"),
        ("patient_id", "p1", "duplicate patient ids: p1"),
    ],
)
def test_bad_survival_labels_name_file_and_patient(tmp_path, column, value, expected):
    frame = SURVIVAL.astype({column: object}).copy()
    frame.loc[1, column] = value
    path = tmp_path / "tcga" / "labels.parquet"
    with pytest.raises(ValueError) as err:
        write_labels(path, frame, "survival", provenance={})
    message = str(err.value)
    assert str(path) in message and expected in message
    assert "p2" in message or column == "patient_id"
    assert not path.exists() and not list(tmp_path.rglob("*.parquet*"))


def test_labels_missing_a_column_name_it(tmp_path):
    path = tmp_path / "labels.parquet"
    with pytest.raises(ValueError, match=re.escape("missing column(s) ['event']")):
        write_labels(path, SURVIVAL.drop(columns="event"), "survival", provenance={})
    assert not path.exists()


def _extract(raw: Path, out: Path, capfd) -> tuple[int, str]:
    """``mmlego mimic-extract`` in this process (the CLI the rule calls): exit code, stderr."""
    code = main(
        [
            "mimic-extract",
            "--mimic-dir",
            str(raw),
            "--cfg",
            '{"chunk_rows": 1000}',
            "--out-dir",
            str(out),
        ]
    )
    return code, capfd.readouterr().err


def _replace_bytes(path: Path, old: bytes, new: bytes, count: int = 1) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, count))


def _latin1_body(raw: Path) -> Path:
    path = raw / "ADMISSIONS.csv"
    _replace_bytes(path, b"ELECTIVE", b"\xc9LECTIVE")  # Latin-1 E-acute: not UTF-8
    return path


def _latin1_header(raw: Path) -> Path:
    path = raw / "ADMISSIONS.csv"
    _replace_bytes(path, b"INSURANCE", b"INSUR\xc9NCE")
    return path


def _semicolons(raw: Path) -> Path:
    path = raw / "PATIENTS.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.to_csv(path, sep=";", index=False)
    return path


def _duplicate_stay(raw: Path) -> Path:
    path = raw / "ICUSTAYS.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    return path


def _missing_column(raw: Path) -> Path:
    path = raw / "ICUSTAYS.csv"
    _replace_bytes(path, b"INTIME", b"IN_TIME")
    return path


def _truncated_row(raw: Path) -> Path:
    path = raw / "ADMISSIONS.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[-1][:20]]) + "\n")
    return path


def _truncated_gzip(raw: Path) -> Path:
    # An interrupted download of a gzipped release table.
    plain = raw / "CHARTEVENTS.csv"
    data = gzip.compress(plain.read_bytes())
    plain.unlink()
    path = raw / "CHARTEVENTS.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def _latin1_streamed(raw: Path) -> Path:
    path = raw / "CHARTEVENTS.csv"
    _replace_bytes(path, b"Deg. F", b"Deg. \xb0F")  # Latin-1 degree sign in VALUEUOM
    return path


BROKEN = {
    "non-UTF-8 body": (_latin1_body, ["UTF"]),
    "non-UTF-8 header": (_latin1_header, ["UTF-8"]),
    "semicolon delimiter": (_semicolons, ["missing column(s)", "delimiter"]),
    "duplicate stay": (_duplicate_stay, ["duplicate ICUSTAY_ID values [1000]"]),
    "missing column": (_missing_column, ["missing column(s) ['INTIME']"]),
    "truncated gzip": (_truncated_gzip, ["truncated or corrupt"]),
    "non-UTF-8 in a streamed table": (
        _latin1_streamed,
        ["cannot parse the CHARTEVENTS table", "UTF8"],
    ),
    "short row": (_truncated_row, ["cannot parse the ADMISSIONS table"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_mimic_table_fails_naming_the_file_without_outputs(tmp_path, capfd, case):
    raw = write_database(tmp_path / "raw")
    change, expected = BROKEN[case]
    path = change(raw)
    out = tmp_path / "extract"
    code, err = _extract(raw, out, capfd)
    assert code == 1, err[-2000:]
    lines = [line for line in err.splitlines() if "mimic-extract failed" in line]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert str(path) in lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_messy_mimic_values_are_counted_and_warned_not_fatal(tmp_path, capfd):
    # The hand-made database has a stay without any usable event row (2000), an unmapped
    # ITEMID (999), a unit never seen before ('Deg. K') and variables nobody measured.
    raw = write_database(tmp_path / "raw")
    out = tmp_path / "extract"
    code, err = _extract(raw, out, capfd)
    assert code == 0, err[-2000:]
    assert "1 temperature rows with unknown VALUEUOM 'Deg. K' dropped" in err
    assert "1 stays have no usable chart or lab row" in err
    assert "variable dbp is never observed" in err
    events = pd.read_csv(out / "qc_events.csv")
    unit = events[(events["scope"] == "unknown_unit") & (events["name"] == "temperature:Deg. K")]
    assert unit["count"].tolist() == [1]
    tables = events[events["scope"] == "table"].set_index(["name", "measure"])["count"]
    assert (tables["chart", "rows_read"], tables["lab", "rows_read"]) == (19, 4)
    assert tables["chart", "rows_with_unmapped_itemid"] == 1  # ITEMID 999, counted not fatal
    assert 999 not in events.loc[events["scope"] == "itemid", "name"].astype(int).tolist()
    cohort = pd.read_csv(out / "qc_cohort.csv").set_index("reason")
    assert cohort.loc["no_chart_or_lab_rows_in_window", "stays"] == 1
    stays = pd.read_parquet(out / "cohort.parquet")
    assert 2000 in stays["icustay_id"].tolist()  # kept, with an empty vitals entry
    assert not stays.set_index("icustay_id").loc[2000, "vitals_present"]
