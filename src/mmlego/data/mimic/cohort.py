"""The MIMIC-III cohort: which ICU stays become samples, with their static features.

Inclusion rules, applied in this order (each exclusion counted in the QC table by reason):

1. the ICU stay has INTIME and OUTTIME, and OUTTIME is after INTIME;
2. its admission (HADM_ID) is in ADMISSIONS and its patient (SUBJECT_ID) in PATIENTS;
3. the patient is at least ``min_age`` years old at hospital admission (age shift below);
4. the stay lasts at least ``min_hours`` hours (OUTTIME - INTIME);
5. one stay per patient: the patient's first remaining stay by INTIME (ties: lowest
   ICUSTAY_ID). The sample id is the patient (SUBJECT_ID), so no patient can cross splits.

Age is (ADMITTIME - DOB) in years of 365.2425 days. MIMIC-III shifts the date of birth of
patients older than 89 by 300 years, so their computed age is about 300; every age above 89
is replaced by 91.4, the median age of the shifted group given in the MIMIC-III
documentation, and counted in QC (flagged, not excluded).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmlego.data.mimic.tables import MISSING_TIME

YEAR_SECONDS = 365.2425 * 86400
SHIFTED_AGE = 91.4
AGE_SHIFT_ABOVE = 89.0


@dataclass
class QCTable:
    """Cohort QC rows: (step, reason, stays, action) with action excluded | flagged | kept."""

    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, step: str, reason: str, stays: int, action: str) -> None:
        """Record one count."""
        self.rows.append({"step": step, "reason": reason, "stays": int(stays), "action": action})

    def frame(self) -> pd.DataFrame:
        """The rows as a table."""
        return pd.DataFrame(self.rows, columns=["step", "reason", "stays", "action"])


def _exclude(frame: pd.DataFrame, bad: np.ndarray, qc: QCTable, reason: str) -> pd.DataFrame:
    qc.add("cohort", reason, int(bad.sum()), "excluded")
    return frame.loc[~bad]


def build_cohort(
    icustays: pd.DataFrame,
    admissions: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    min_hours: float,
    min_age: float,
    qc: QCTable,
    source: str = "ICUSTAYS",
) -> pd.DataFrame:
    """One row per included stay, sorted by SUBJECT_ID; exclusion counts go to ``qc``."""
    dupes = icustays["ICUSTAY_ID"].duplicated(keep=False)
    if dupes.any():
        ids = sorted(icustays.loc[dupes, "ICUSTAY_ID"].unique().tolist())[:10]
        raise ValueError(
            f"{source}: duplicate ICUSTAY_ID values {ids}; each ICU stay must appear once"
        )
    qc.add("cohort", "icu_stays_in_table", len(icustays), "kept")
    stays = icustays.copy()
    bad = (
        (stays["INTIME"] == MISSING_TIME)
        | (stays["OUTTIME"] == MISSING_TIME)
        | (stays["OUTTIME"] <= stays["INTIME"])
    ).to_numpy()
    stays = _exclude(stays, bad, qc, "missing_or_inverted_intime_outtime")

    adm = admissions.drop_duplicates("HADM_ID").set_index("HADM_ID")
    stays = _exclude(
        stays, ~stays["HADM_ID"].isin(adm.index).to_numpy(), qc, "admission_not_in_admissions"
    )
    pat = patients.drop_duplicates("SUBJECT_ID").set_index("SUBJECT_ID")
    stays = _exclude(
        stays, ~stays["SUBJECT_ID"].isin(pat.index).to_numpy(), qc, "patient_not_in_patients"
    )

    stays = stays.assign(
        ADMITTIME=adm.loc[stays["HADM_ID"], "ADMITTIME"].to_numpy(),
        DEATHTIME=adm.loc[stays["HADM_ID"], "DEATHTIME"].to_numpy(),
        ADMISSION_TYPE=adm.loc[stays["HADM_ID"], "ADMISSION_TYPE"].to_numpy(),
        DOB=pat.loc[stays["SUBJECT_ID"], "DOB"].to_numpy(),
        DOD=pat.loc[stays["SUBJECT_ID"], "DOD"].to_numpy(),
    )
    no_time = ((stays["ADMITTIME"] == MISSING_TIME) | (stays["DOB"] == MISSING_TIME)).to_numpy()
    stays = _exclude(stays, no_time, qc, "missing_admittime_or_dob")

    raw_age = (stays["ADMITTIME"] - stays["DOB"]).to_numpy() / YEAR_SECONDS
    stays = stays.assign(AGE_RAW=raw_age)
    stays = _exclude(stays, raw_age < min_age, qc, f"age_below_{min_age:g}")
    stays = _exclude(
        stays,
        ((stays["OUTTIME"] - stays["INTIME"]).to_numpy() / 3600.0) < min_hours,
        qc,
        f"stay_shorter_than_{min_hours:g}h",
    )
    stays = stays.sort_values(["SUBJECT_ID", "INTIME", "ICUSTAY_ID"], kind="stable")
    stays = _exclude(
        stays, stays["SUBJECT_ID"].duplicated().to_numpy(), qc, "not_first_eligible_stay_of_patient"
    )
    shifted = stays["AGE_RAW"].to_numpy() > AGE_SHIFT_ABOVE
    qc.add(
        "cohort",
        f"age_above_{AGE_SHIFT_ABOVE:g}_set_to_{SHIFTED_AGE:g}",
        int(shifted.sum()),
        "flagged",
    )
    stays = stays.assign(AGE=np.where(shifted, SHIFTED_AGE, stays["AGE_RAW"].to_numpy()))
    stays["ADMISSION_TYPE"] = stays["ADMISSION_TYPE"].fillna("UNKNOWN").astype(str)
    qc.add("cohort", "included_stays", len(stays), "kept")
    return stays.drop(columns=["AGE_RAW"]).reset_index(drop=True)


def _numeric_group(codes: pd.Series) -> np.ndarray:
    """The 3-digit numeric ICD-9 group of each code; -1 for V and E codes and blanks."""
    head = codes.fillna("").astype(str).str.strip().str[:3]
    return (
        pd.to_numeric(head.where(head.str.fullmatch(r"\d{3}")), errors="coerce")
        .fillna(-1)
        .astype(int)
        .to_numpy()
    )


def comorbidity_flags(
    diagnoses: pd.DataFrame, hadm_ids: np.ndarray, prefixes: dict[str, tuple[str, ...]]
) -> pd.DataFrame:
    """0/1 flags per admission (rows in ``hadm_ids`` order): any code starting with a prefix."""
    codes = diagnoses["ICD9_CODE"].fillna("").astype(str).str.strip()
    out = {}
    for name, group in prefixes.items():
        hit = diagnoses.loc[codes.str.startswith(tuple(group)).to_numpy(), "HADM_ID"]
        out[name] = np.isin(hadm_ids, hit.to_numpy()).astype(np.float32)
    return pd.DataFrame(out)


def icd9_group_present(
    diagnoses: pd.DataFrame, hadm_ids: np.ndarray, low: int, high: int
) -> np.ndarray:
    """1 when the admission has a code whose 3-digit group lies in [low, high], else 0."""
    group = _numeric_group(diagnoses["ICD9_CODE"])
    hit = diagnoses.loc[(group >= low) & (group <= high), "HADM_ID"]
    return np.isin(hadm_ids, hit.to_numpy()).astype(np.int64)


MORTALITY_CLASSES = (
    "death_within_1d",
    "death_within_2d",
    "death_within_3d",
    "death_within_1wk",
    "death_within_1yr",
    "alive_or_later",
)
_EDGES_DAYS = np.array([1.0, 2.0, 3.0, 7.0, 365.0])


def mortality_class(admittime: np.ndarray, death_time: np.ndarray) -> np.ndarray:
    """Class of time from hospital admission to death: <=1 d, <=2 d, <=3 d, <=1 wk, <=1 yr, later/none.

    ``death_time`` is :data:`MISSING_TIME` for patients with no recorded death. A death dated
    before the admission's time of day (DOD has no time) counts as within 1 day.
    """
    days = (death_time - admittime) / 86400.0
    cls = np.searchsorted(_EDGES_DAYS, days, side="left")
    return np.where(death_time == MISSING_TIME, len(_EDGES_DAYS), cls).astype(np.int64)
