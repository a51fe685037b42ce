"""A hand-made MIMIC-III v1.4 database with known answers, shared by the MIMIC tests.

Real column names and column order of the release; times are shifted dates as in MIMIC.

Subjects: 1 adult with two stays (the second is dropped), irregular charting, Fahrenheit
temperatures, an ERROR row, an out-of-range value, a chart row without ICUSTAY_ID, MetaVision
GCS components, FiO2 as a fraction and as a percentage, an unknown unit, rows outside the
window; dies 1.17 days after admission; has a respiratory (507.0) and an AIDS (042.0) code.
2 older than 89 (DOB shifted by 300 years), no event rows, metastatic cancer code, alive.
3 a 10-hour stay (excluded). 4 a child (excluded). 5 lab rows only (joined by HADM_ID),
haematologic malignancy, DOD 18.6 days after admission. Stay 6000 has an admission missing
from ADMISSIONS (excluded).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

PATIENTS = (
    ["ROW_ID", "SUBJECT_ID", "GENDER", "DOB", "DOD", "DOD_HOSP", "DOD_SSN", "EXPIRE_FLAG"],
    [
        [1, 1, "M", "2100-01-01 00:00:00", "2150-01-02 00:00:00", "2150-01-02 00:00:00", "", 1],
        [2, 2, "F", "1850-06-01 00:00:00", "", "", "", 0],
        [3, 3, "F", "2080-01-01 00:00:00", "", "", "", 0],
        [4, 4, "M", "2145-01-01 00:00:00", "", "", "", 0],
        [5, 5, "M", "2090-01-01 00:00:00", "2150-05-20 00:00:00", "", "2150-05-20 00:00:00", 1],
        [6, 6, "M", "2090-01-01 00:00:00", "", "", "", 0],
    ],
)
ADMISSIONS = (
    [
        "ROW_ID",
        "SUBJECT_ID",
        "HADM_ID",
        "ADMITTIME",
        "DISCHTIME",
        "DEATHTIME",
        "ADMISSION_TYPE",
        "ADMISSION_LOCATION",
        "DISCHARGE_LOCATION",
        "INSURANCE",
        "HOSPITAL_EXPIRE_FLAG",
    ],
    [
        [
            1,
            1,
            100,
            "2150-01-01 08:00:00",
            "2150-01-02 12:00:00",
            "2150-01-02 12:00:00",
            "EMERGENCY",
            "EMERGENCY ROOM ADMIT",
            "DEAD/EXPIRED",
            "Medicare",
            1,
        ],
        [
            2,
            2,
            200,
            "2150-03-01 10:00:00",
            "2150-03-05 10:00:00",
            "",
            "ELECTIVE",
            "PHYS REFERRAL/NORMAL DELI",
            "HOME",
            "Medicare",
            0,
        ],
        [
            3,
            3,
            300,
            "2150-04-01 10:00:00",
            "2150-04-03 10:00:00",
            "",
            "URGENT",
            "TRANSFER FROM HOSP/EXTRAM",
            "HOME",
            "Private",
            0,
        ],
        [
            4,
            4,
            400,
            "2150-04-01 10:00:00",
            "2150-04-03 10:00:00",
            "",
            "EMERGENCY",
            "EMERGENCY ROOM ADMIT",
            "HOME",
            "Private",
            0,
        ],
        [
            5,
            5,
            500,
            "2150-05-01 10:00:00",
            "2150-05-08 10:00:00",
            "",
            "EMERGENCY",
            "EMERGENCY ROOM ADMIT",
            "HOME",
            "Medicaid",
            0,
        ],
    ],
)
ICUSTAYS = (
    [
        "ROW_ID",
        "SUBJECT_ID",
        "HADM_ID",
        "ICUSTAY_ID",
        "DBSOURCE",
        "FIRST_CAREUNIT",
        "LAST_CAREUNIT",
        "FIRST_WARDID",
        "LAST_WARDID",
        "INTIME",
        "OUTTIME",
        "LOS",
    ],
    [
        [
            1,
            1,
            100,
            1000,
            "carevue",
            "MICU",
            "MICU",
            52,
            52,
            "2150-01-01 10:00:00",
            "2150-01-03 10:00:00",
            2.0,
        ],
        [
            2,
            1,
            100,
            1001,
            "carevue",
            "MICU",
            "MICU",
            52,
            52,
            "2150-01-04 10:00:00",
            "2150-01-06 10:00:00",
            2.0,
        ],
        [
            3,
            2,
            200,
            2000,
            "metavision",
            "CCU",
            "CCU",
            7,
            7,
            "2150-03-01 12:00:00",
            "2150-03-02 14:00:00",
            1.08,
        ],
        [
            4,
            3,
            300,
            3000,
            "metavision",
            "SICU",
            "SICU",
            33,
            33,
            "2150-04-01 12:00:00",
            "2150-04-01 22:00:00",
            0.42,
        ],
        [
            5,
            4,
            400,
            4000,
            "metavision",
            "PICU",
            "PICU",
            1,
            1,
            "2150-04-01 12:00:00",
            "2150-04-03 12:00:00",
            2.0,
        ],
        [
            6,
            5,
            500,
            5000,
            "metavision",
            "MICU",
            "MICU",
            52,
            52,
            "2150-05-01 12:00:00",
            "2150-05-02 18:00:00",
            1.25,
        ],
        [
            7,
            6,
            600,
            6000,
            "metavision",
            "MICU",
            "MICU",
            52,
            52,
            "2150-06-01 12:00:00",
            "2150-06-03 12:00:00",
            2.0,
        ],
    ],
)
CHART_COLUMNS = [
    "ROW_ID",
    "SUBJECT_ID",
    "HADM_ID",
    "ICUSTAY_ID",
    "ITEMID",
    "CHARTTIME",
    "STORETIME",
    "CGID",
    "VALUE",
    "VALUENUM",
    "VALUEUOM",
    "WARNING",
    "ERROR",
    "RESULTSTATUS",
    "STOPPED",
]


def _chart(icustay, itemid, time, value, uom="", error="", hadm=100):
    return [
        0,
        1,
        hadm,
        icustay,
        itemid,
        f"2150-01-01 {time}:00",
        "",
        17,
        value,
        value,
        uom,
        "",
        error,
        "",
        "",
    ]


CHART_ROWS = [
    _chart(1000, 211, "10:05", 80, "BPM"),
    _chart(1000, 211, "10:40", 90, "bpm"),
    _chart(1000, 211, "10:30", 300, "BPM", error=1),  # ERROR row: removed
    _chart(1000, 211, "11:00", 500, "BPM"),  # out of range: removed
    _chart(1000, 211, "12:10", 100, "BPM"),
    _chart(1000, 211, "09:59", 60, "BPM"),  # before INTIME
    _chart(1000, 678, "10:15", 98.6, "Deg. F"),  # CareVue F -> 37.0 C
    _chart(1000, 223761, "11:20", 100.4, "?F"),  # MetaVision F -> 38.0 C
    _chart(1000, 676, "13:00", 37.5, "Deg. K"),  # unknown unit: removed
    _chart(1000, 220739, "14:00", 4),  # GCS eye
    _chart(1000, 223900, "14:00", 5),  # GCS verbal
    _chart(1000, 223901, "14:00", 6),  # GCS motor -> total 15
    _chart(1000, 220739, "15:00", 3),  # eye alone: no total
    _chart(1000, 223835, "10:30", 0.5),  # fraction -> 50 %
    _chart(1000, 3420, "10:45", 40, "%"),  # percent
    _chart("", 51, "10:20", 120, "mmHg"),  # no ICUSTAY_ID: joined by HADM_ID
    _chart(1000, 999, "10:20", 1, ""),  # unmapped ITEMID
    _chart(1001, 211, "10:20", 70, "BPM"),  # the patient's second stay, not in the cohort
    [0, 1, 100, 1000, 211, "2150-01-02 10:00:00", "", 17, 70, 70, "BPM", "", "", "", ""],  # hour 24
]
LAB_COLUMNS = [
    "ROW_ID",
    "SUBJECT_ID",
    "HADM_ID",
    "ITEMID",
    "CHARTTIME",
    "VALUE",
    "VALUENUM",
    "VALUEUOM",
    "FLAG",
]
LAB_ROWS = [
    [1, 5, 500, 50820, "2150-05-01 14:30:00", "7.30", 7.30, "units", "abnormal"],
    [2, 5, 500, 50931, "2150-05-01 11:00:00", "140", 140, "mg/dL", ""],  # before INTIME
    [3, 5, 500, 50821, "2150-05-01 16:00:00", "95", 95, "mm Hg", ""],
    [4, 5, "", 50821, "2150-05-01 16:00:00", "90", 90, "mm Hg", ""],  # outpatient: no HADM_ID
]
DIAGNOSES = (
    ["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"],
    [
        [1, 1, 100, 1, "4280"],
        [2, 1, 100, 2, "5070"],
        [3, 1, 100, 3, "0420"],
        [4, 2, 200, 1, "V1582"],
        [5, 2, 200, 2, "1970"],
        [6, 5, 500, 1, "20300"],
        [7, 5, 500, 2, "E8781"],
    ],
)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def write_database(root: Path, *, gzip_chart: bool = False, chart_repeat: int = 1) -> Path:
    """Write the tables under ``root``; ``chart_repeat`` pads CHARTEVENTS with unmapped rows."""
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "PATIENTS.csv", *PATIENTS)
    _write(root / "ADMISSIONS.csv", *ADMISSIONS)
    _write(root / "ICUSTAYS.csv", *ICUSTAYS)
    _write(root / "DIAGNOSES_ICD.csv", *DIAGNOSES)
    padding = [_chart(1000, 999, "10:20", 1, "") for _ in range(chart_repeat - 1)]
    chart = root / ("CHARTEVENTS.csv.gz" if gzip_chart else "CHARTEVENTS.csv")
    _write(chart, CHART_COLUMNS, CHART_ROWS + padding)
    _write(root / "LABEVENTS.csv", LAB_COLUMNS, LAB_ROWS)
    return root
