"""A MIMIC-III v1.4-like database: the real tables, columns, ITEMIDs and charting quirks.

Signal. Each admission has two standard-normal factors that show in the first hours of its
ICU stay: ``severity_factor`` (heart rate up, blood pressure, GCS and pH down, glucose up)
and ``respiratory_factor`` (respiratory rate and FiO2 up, SpO2 and PaO2 down). The static
features (age, admission type, comorbidity ICD-9 codes) give two scores computed from what
is in the tables. Labels come out of the raw tables the way real ones do:

- ICD9 task: a respiratory code (460-519) in the admission's ``DIAGNOSES_ICD`` with
  probability ``sigmoid(-1 + 1.7 r + 1.2 s_icd + 0.7 r s_icd)``;
- MORT task: the time of death (``ADMISSIONS.DEATHTIME``, ``PATIENTS.DOD``) from a mixture
  of acute (days) and late (years) deaths whose rates grow with
  ``eta = 1.4 v + s_mort + 0.6 v s_mort + 0.3 r``.

So each modality carries signal alone and part of it is in the interaction.

Format. Upper-case CSVs with the release's columns; dates shifted into 2100-2200 per patient,
ages over 89 shifted to about 300 years; CareVue and MetaVision stays with their own ITEMIDs
(taken from the project's variable mapping, so generator and extractor agree); irregular
charting times; temperature in °F or °C; FiO2 sometimes charted as a fraction; MetaVision GCS
as three components with text values; ``ERROR = 1`` rows and impossible values; distractor
items; rows before the ICU stay; stays shorter than 24 h; patients with several admissions.
CHARTEVENTS and LABEVENTS are written in chunks of stays, so a paper-scale database (tens of
thousands of stays, tens of millions of rows) never sits in memory.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from scipy.special import expit

from mmlego.utils.atomic import atomic_dir
from mmlego.utils.seeding import derive_seed

log = logging.getLogger(__name__)

TABLES = (
    "PATIENTS",
    "ADMISSIONS",
    "ICUSTAYS",
    "CHARTEVENTS",
    "LABEVENTS",
    "DIAGNOSES_ICD",
    "D_ITEMS",
    "D_LABITEMS",
)
MORTALITY_EDGES_DAYS = (1.0, 2.0, 3.0, 7.0, 365.0)
CHUNK_STAYS = 250  # bounds memory: ~1,600 rows per stay with many extra items

# (variable, system) -> ITEMID and VALUEUOM as charted; every ITEMID is in the project's
# variable mapping (resources/mimic_variables.yaml) under the same variable and unit.
CHART_ITEMS = {
    "carevue": {
        "heart_rate": (211, "BPM"),
        "sbp": (51, "mmHg"),
        "dbp": (8368, "mmHg"),
        "mbp": (52, "mmHg"),
        "resp_rate": (618, "BPM"),
        "spo2": (646, "%"),
        "temp_c": (676, "Deg. C"),
        "temp_f": (678, "Deg. F"),
        "gcs": (198, "points"),
        "fio2": (190, ""),
        "glucose": (811, "mg/dL"),
        "ph": (780, "units"),
        "pao2": (779, "mmHg"),
    },
    "metavision": {
        "heart_rate": (220045, "bpm"),
        "sbp": (220179, "mmHg"),
        "dbp": (220180, "mmHg"),
        "mbp": (220181, "mmHg"),
        "resp_rate": (220210, "insp/min"),
        "spo2": (220277, "%"),
        "temp_c": (223762, "?C"),
        "temp_f": (223761, "?F"),
        "gcs_eye": (220739, ""),
        "gcs_verbal": (223900, ""),
        "gcs_motor": (223901, ""),
        "fio2": (223835, "%"),
        "glucose": (220621, "mg/dL"),
        "ph": (223830, "units"),
        "pao2": (220224, "mmHg"),
    },
}
LAB_ITEMS = {"ph": (50820, "units"), "pao2": (50821, "mm Hg"), "glucose": (50931, "mg/dL")}
# Items the extractor must ignore: text-valued charting and unrelated labs.
DISTRACTOR_CHART = {"carevue": (212, "Heart Rhythm"), "metavision": (220048, "Heart Rhythm")}
DISTRACTOR_LABS = {
    50912: ("Creatinine", "mg/dL", 1.0, 0.3),
    50971: ("Potassium", "mEq/L", 4.1, 0.4),
}

D_ITEMS_ROWS = [
    (211, "Heart Rate", None, "carevue", None, None),
    (51, "Arterial BP [Systolic]", None, "carevue", None, None),
    (8368, "Arterial BP [Diastolic]", None, "carevue", None, None),
    (52, "Arterial BP Mean", None, "carevue", None, None),
    (618, "Respiratory Rate", None, "carevue", None, None),
    (646, "SpO2", None, "carevue", None, None),
    (676, "Temperature C", None, "carevue", None, None),
    (678, "Temperature F", None, "carevue", None, None),
    (198, "GCS Total", None, "carevue", None, None),
    (190, "FiO2 set", None, "carevue", None, None),
    (811, "Glucose (70-105)", None, "carevue", None, None),
    (780, "Arterial pH", None, "carevue", None, None),
    (779, "Arterial PaO2", None, "carevue", None, None),
    (212, "Heart Rhythm", None, "carevue", None, None),
    (220045, "Heart Rate", "HR", "metavision", "Routine Vital Signs", "bpm"),
    (
        220179,
        "Non Invasive Blood Pressure systolic",
        "NBPs",
        "metavision",
        "Routine Vital Signs",
        "mmHg",
    ),
    (
        220180,
        "Non Invasive Blood Pressure diastolic",
        "NBPd",
        "metavision",
        "Routine Vital Signs",
        "mmHg",
    ),
    (
        220181,
        "Non Invasive Blood Pressure mean",
        "NBPm",
        "metavision",
        "Routine Vital Signs",
        "mmHg",
    ),
    (220210, "Respiratory Rate", "RR", "metavision", "Respiratory", "insp/min"),
    (220277, "O2 saturation pulseoxymetry", "SpO2", "metavision", "Respiratory", "%"),
    (223762, "Temperature Celsius", "Temperature C", "metavision", "Routine Vital Signs", "?C"),
    (223761, "Temperature Fahrenheit", "Temperature F", "metavision", "Routine Vital Signs", "?F"),
    (220739, "GCS - Eye Opening", "GCS - Eye Opening", "metavision", "Neurological", None),
    (223900, "GCS - Verbal Response", "GCS - Verbal Response", "metavision", "Neurological", None),
    (223901, "GCS - Motor Response", "GCS - Motor Response", "metavision", "Neurological", None),
    (223835, "Inspired O2 Fraction", "FiO2", "metavision", "Respiratory", None),
    (220621, "Glucose (serum)", "Glucose (serum)", "metavision", "Labs", "mg/dL"),
    (223830, "PH (Arterial)", "PH (Arterial)", "metavision", "Labs", None),
    (220224, "Arterial O2 pressure", "PO2 (Arterial)", "metavision", "Labs", "mmHg"),
    (220048, "Heart Rhythm", "Heart Rhythm", "metavision", "Routine Vital Signs", None),
]
D_LABITEMS_ROWS = [
    (50820, "pH", "Blood", "Blood Gas", "11558-4"),
    (50821, "pO2", "Blood", "Blood Gas", "11556-8"),
    (50931, "Glucose", "Blood", "Chemistry", "2345-7"),
    (50912, "Creatinine", "Blood", "Chemistry", "2160-0"),
    (50971, "Potassium", "Blood", "Chemistry", "2823-3"),
]

RESPIRATORY_CODES = ("486", "51881", "49121", "5070", "5119", "4660", "4829", "496")
OTHER_CODES = (
    "4019", "42731", "4280", "5849", "25000", "2724", "41401", "5990", "2851", "2449",
    "53081", "40390", "311", "V4581", "V5861", "E8782", "99592", "0389", "78552", "2762",
)  # fmt: skip
COMORBIDITY_CODES = {"aids": ("042",), "haem_malignancy": ("20300", "20280", "20410"),
                     "metastatic_cancer": ("1970", "1985", "1977")}  # fmt: skip
GCS_TEXT = {
    "gcs_eye": {1: "No Response", 2: "To Pain", 3: "To Speech", 4: "Spontaneously"},
    "gcs_verbal": {1: "No Response-ETT", 2: "Incomprehensible sounds", 3: "Inappropriate Words",
                   4: "Confused", 5: "Oriented"},
    "gcs_motor": {1: "No response", 2: "Abnormal extension", 3: "Abnormal Flexion",
                  4: "Flex-withdraws", 5: "Localizes Pain", 6: "Obeys Commands"},
}  # fmt: skip


@dataclass(frozen=True)
class MimicCohort:
    """The small tables of a simulated database plus the per-stay truth."""

    truth: pd.DataFrame
    patients: pd.DataFrame
    admissions: pd.DataFrame
    icustays: pd.DataFrame
    diagnoses: pd.DataFrame


def mortality_class(death_days: np.ndarray) -> np.ndarray:
    """Class 0..5 of time from admission to death (NaN = no recorded death -> class 5)."""
    days = np.where(np.isnan(death_days), np.inf, death_days)
    return np.digitize(days, MORTALITY_EDGES_DAYS, right=True)


def simulate_mimic(*, stays: int = 500, seed: int = 0) -> MimicCohort:
    """Draw the patients, admissions, ICU stays, diagnoses and truth in memory."""
    if stays < 10:
        raise ValueError(f"a MIMIC-like database needs >= 10 stays, got {stays}")
    rng = np.random.default_rng(derive_seed(seed, "mimic"))
    plan = _plan(rng, stays)
    n_pat = plan["patient"].max() + 1
    n_adm = plan["admission"].max() + 1
    adm_of_stay = plan["admission"].to_numpy()

    # Patients: sex, true age at first admission, comorbidities, a date shift into 2100-2200.
    sex = np.where(rng.uniform(size=n_pat) < 0.44, "F", "M")
    first_age = np.clip(rng.normal(64.0, 16.0, n_pat), 18.0, 99.0)
    flags = {
        "aids": rng.uniform(size=n_pat) < 0.04,
        "haem_malignancy": rng.uniform(size=n_pat) < 0.08,
        "metastatic_cancer": rng.uniform(size=n_pat) < 0.12,
    }
    base = np.datetime64("2100-01-01T00:00:00") + (
        rng.uniform(0, 95 * 365.25 * 86400, n_pat).astype("int64")
    ).astype("timedelta64[s]")

    # Admissions: type and the two factors; the patient's death is drawn from the first
    # admission (the extraction keeps each patient's first stay), readmissions come before it.
    adm = plan.drop_duplicates("admission").reset_index(drop=True)
    adm_type = rng.choice(["EMERGENCY", "ELECTIVE", "URGENT"], n_adm, p=[0.75, 0.17, 0.08])
    severity, respiratory = rng.standard_normal((2, n_adm))
    emergency = (adm_type == "EMERGENCY").astype(float)
    gap_days = np.where(adm["adm_index"] == 0, 0.0, rng.uniform(20, 700, n_adm))
    offset_days = pd.Series(gap_days).groupby(adm["patient"]).cumsum().to_numpy()
    age = first_age[adm["patient"]] + offset_days / 365.25
    age_z = (np.minimum(age, 90.0) - 64.0) / 16.0
    pf = {k: v[adm["patient"]].astype(float) for k, v in flags.items()}
    s_icd = 0.6 * age_z + 0.6 * emergency + 1.2 * pf["aids"] + 0.6 * pf["haem_malignancy"] - 0.5
    s_mort = (
        0.7 * age_z
        + 0.9 * pf["metastatic_cancer"]
        + 0.7 * pf["haem_malignancy"]
        + 0.6 * pf["aids"]
        + 0.5 * emergency
        - 0.5
    )
    icd_logit = -1.0 + 1.7 * respiratory + 1.2 * s_icd + 0.7 * respiratory * s_icd
    respiratory_dx = rng.uniform(size=n_adm) < expit(icd_logit)
    eta = 1.4 * severity + 1.0 * s_mort + 0.6 * severity * s_mort + 0.3 * respiratory
    acute = rng.uniform(size=n_adm) < expit(-2.5 + 3.0 * eta)
    acute_days = np.exp(np.log(6.0) - 0.8 * eta + 0.3 * rng.standard_normal(n_adm))
    late_days = rng.exponential(1500.0 * np.exp(-1.8 * eta))
    death_days = _death_from_each_admission(
        adm["patient"].to_numpy(), offset_days, np.where(acute, acute_days, late_days)
    )
    admit = base[adm["patient"]] + _seconds(offset_days * 86400)

    # ICU stays: when they start relative to admission (some boarded in the ICU before the
    # hospital admission was filed), how long they last, and death inside them.
    n = len(plan)
    intime_h = np.where(
        rng.uniform(size=n) < 0.3, rng.uniform(-14.0, 0.0, n), rng.uniform(0.0, 8.0, n)
    )
    second = plan["stay_index"].to_numpy() == 1
    intime_h = np.where(second, rng.uniform(60.0, 120.0, n), intime_h)
    los_h = np.where(
        rng.uniform(size=n) < 0.1, rng.uniform(4.0, 23.0, n), rng.lognormal(4.0, 0.6, n)
    )
    death_h = death_days[adm_of_stay] * 24.0
    died_in_icu = death_h < intime_h + los_h
    los_h = np.where(died_in_icu, np.maximum(death_h - intime_h, 0.5), los_h)
    admit_s = admit[adm_of_stay]
    intime = admit_s + _seconds(intime_h * 3600)
    outtime = intime + _seconds(los_h * 3600)
    dbsource = np.where(rng.uniform(size=n_pat) < 0.5, "carevue", "metavision")[plan["patient"]]

    # Discharge: after the last stay of the admission, or at death in hospital.
    last_out = pd.Series(outtime).groupby(adm_of_stay).max().to_numpy()
    disch = last_out + _seconds(rng.uniform(0.5, 9.0, n_adm) * 86400)
    death_time = admit + _seconds(np.nan_to_num(death_days, nan=0.0) * 86400)
    in_hospital = ~np.isnan(death_days) & (death_time <= disch)
    disch = np.where(in_hospital, np.maximum(death_time, last_out), disch)

    subject_ids = np.sort(rng.choice(np.arange(100, 100 + 30 * n_pat), n_pat, replace=False))
    hadm_ids = rng.choice(np.arange(100000, 200000), n_adm, replace=False)
    icustay_ids = rng.choice(np.arange(200000, 300000), n, replace=False)

    patients = _patients(
        rng, subject_ids, sex, first_age, base, adm, admit, death_days, in_hospital
    )
    admissions = pd.DataFrame(
        {
            "ROW_ID": np.arange(1, n_adm + 1),
            "SUBJECT_ID": subject_ids[adm["patient"]],
            "HADM_ID": hadm_ids,
            "ADMITTIME": admit,
            "DISCHTIME": disch,
            "DEATHTIME": pd.Series(death_time).where(in_hospital),
            "ADMISSION_TYPE": adm_type,
            "ADMISSION_LOCATION": np.where(
                adm_type == "ELECTIVE", "PHYS REFERRAL/NORMAL DELI", "EMERGENCY ROOM ADMIT"
            ),
            "DISCHARGE_LOCATION": np.where(in_hospital, "DEAD/EXPIRED", "HOME"),
            "INSURANCE": rng.choice(
                ["Medicare", "Private", "Medicaid"], n_adm, p=[0.55, 0.35, 0.1]
            ),
            "LANGUAGE": pd.Series(
                rng.choice(["ENGL", "SPAN", ""], n_adm, p=[0.7, 0.05, 0.25])
            ).replace("", None),
            "RELIGION": rng.choice(["CATHOLIC", "NOT SPECIFIED", "PROTESTANT QUAKER"], n_adm),
            "MARITAL_STATUS": rng.choice(["MARRIED", "SINGLE", "WIDOWED"], n_adm),
            "ETHNICITY": rng.choice(
                ["WHITE", "BLACK/AFRICAN AMERICAN", "UNKNOWN/NOT SPECIFIED"],
                n_adm,
                p=[0.7, 0.1, 0.2],
            ),
            "EDREGTIME": pd.Series(admit - _seconds(rng.uniform(1, 6, n_adm) * 3600)).where(
                emergency > 0
            ),
            "EDOUTTIME": pd.Series(admit + _seconds(rng.uniform(0, 1, n_adm) * 3600)).where(
                emergency > 0
            ),
            "DIAGNOSIS": rng.choice(
                ["SEPSIS", "PNEUMONIA", "CONGESTIVE HEART FAILURE", "GI BLEED"], n_adm
            ),
            "HOSPITAL_EXPIRE_FLAG": in_hospital.astype(int),
            "HAS_CHARTEVENTS_DATA": 1,
        }
    )
    icustays = pd.DataFrame(
        {
            "ROW_ID": np.arange(1, n + 1),
            "SUBJECT_ID": subject_ids[plan["patient"]],
            "HADM_ID": hadm_ids[adm_of_stay],
            "ICUSTAY_ID": icustay_ids,
            "DBSOURCE": dbsource,
            "FIRST_CAREUNIT": rng.choice(["MICU", "SICU", "CCU", "CSRU", "TSICU"], n),
            "LAST_CAREUNIT": None,
            "FIRST_WARDID": rng.choice([12, 15, 23, 33, 52], n),
            "LAST_WARDID": None,
            "INTIME": intime,
            "OUTTIME": outtime,
            "LOS": np.round(los_h / 24.0, 4),
        }
    )
    icustays["LAST_CAREUNIT"] = icustays["FIRST_CAREUNIT"]
    icustays["LAST_WARDID"] = icustays["FIRST_WARDID"]
    diagnoses = _diagnoses(rng, admissions, respiratory_dx, pf)
    klass = mortality_class(death_days)
    truth = pd.DataFrame(
        {
            "ICUSTAY_ID": icustay_ids,
            "HADM_ID": hadm_ids[adm_of_stay],
            "SUBJECT_ID": subject_ids[plan["patient"]],
            "dbsource": dbsource,
            "severity_factor": severity[adm_of_stay],
            "respiratory_factor": respiratory[adm_of_stay],
            "age": age[adm_of_stay],
            "admission_type": adm_type[adm_of_stay],
            "aids": pf["aids"][adm_of_stay].astype(bool),
            "haem_malignancy": pf["haem_malignancy"][adm_of_stay].astype(bool),
            "metastatic_cancer": pf["metastatic_cancer"][adm_of_stay].astype(bool),
            "static_icd_score": s_icd[adm_of_stay],
            "static_mort_score": s_mort[adm_of_stay],
            "icd9_label": respiratory_dx[adm_of_stay].astype(int),
            "death_days": death_days[adm_of_stay],
            "mortality_class": klass[adm_of_stay],
            "intime": intime,
            "intime_hours": intime_h,
            "los_hours": los_h,
            "ventilated": rng.uniform(size=n) < 0.6,
            "temperature_unit": np.where(rng.uniform(size=n) < 0.6, "F", "C"),
        }
    )
    return MimicCohort(truth, patients, admissions, icustays, diagnoses)


def generate_mimic(
    out_dir: str | Path,
    *,
    stays: int = 500,
    seed: int = 0,
    chart_hours: float = 48.0,
    extra_items: int = 0,
) -> MimicCohort:
    """Write the eight tables as CSVs into ``out_dir`` (replaced as a whole on success).

    CHARTEVENTS and LABEVENTS cover each stay from 2 h before ICU admission to
    ``chart_hours`` after it (or the ICU discharge), written ``CHUNK_STAYS`` stays at a time.
    ``extra_items`` more unrelated numeric items are charted hourly per stay: the real
    CHARTEVENTS holds thousands of items besides the 12 variables, and a paper-scale
    benchmark (tens of millions of rows) needs their volume.
    """
    cohort = simulate_mimic(stays=stays, seed=seed)
    with atomic_dir(out_dir) as tmp:
        _write(cohort.patients, tmp / "PATIENTS.csv")
        _write(cohort.admissions, tmp / "ADMISSIONS.csv")
        _write(cohort.icustays, tmp / "ICUSTAYS.csv")
        _write(cohort.diagnoses, tmp / "DIAGNOSES_ICD.csv")
        _write(_d_items(extra_items), tmp / "D_ITEMS.csv")
        _write(_d_labitems(), tmp / "D_LABITEMS.csv")
        rows = _write_events(cohort, tmp, seed, chart_hours, extra_items)
    log.info(
        "MIMIC-like database: %d patients, %d admissions, %d ICU stays, %d chart rows, %d lab rows",
        len(cohort.patients),
        len(cohort.admissions),
        len(cohort.icustays),
        rows["chart"],
        rows["lab"],
    )
    return cohort


def _seconds(values: np.ndarray) -> np.ndarray:
    return np.rint(values).astype("int64").astype("timedelta64[s]")


def _plan(rng: np.random.Generator, stays: int) -> pd.DataFrame:
    """Patient, admission and stay indices: some patients readmitted, some admissions with 2 stays."""
    rows = []
    patient = admission = 0
    while len(rows) < stays:
        for a in range(int(rng.choice([1, 2, 3], p=[0.88, 0.1, 0.02]))):
            for s in range(2 if rng.uniform() < 0.05 else 1):
                rows.append((patient, admission, a, s))
            admission += 1
        patient += 1
    plan = pd.DataFrame(rows[:stays], columns=["patient", "admission", "adm_index", "stay_index"])
    return plan


def _death_from_each_admission(
    patient: np.ndarray, offset_days: np.ndarray, drawn_days: np.ndarray
) -> np.ndarray:
    """Days from each admission to the patient's death (NaN: no death in the follow-up).

    The death is drawn from the patient's first admission. A patient readmitted later was
    alive then: a death drawn before the last readmission moves to the same delay after it.
    Deaths more than four years out are beyond the release's follow-up.
    """
    frame = pd.DataFrame({"patient": patient, "offset": offset_days, "drawn": drawn_days})
    first = frame.groupby("patient")["drawn"].transform("first").to_numpy()
    last_offset = frame.groupby("patient")["offset"].transform("max").to_numpy()
    absolute = np.where(first > last_offset, first, last_offset + first)
    absolute = np.where(absolute < 4 * 365.0, absolute, np.nan)
    return absolute - offset_days


def _patients(
    rng: np.random.Generator,
    subject_ids: np.ndarray,
    sex: np.ndarray,
    first_age: np.ndarray,
    base: np.ndarray,
    adm: pd.DataFrame,
    admit: np.ndarray,
    death_days: np.ndarray,
    in_hospital: np.ndarray,
) -> pd.DataFrame:
    """PATIENTS: DOB from the age at first admission (over 89: shifted to ~300 years)."""
    shown_age = np.where(first_age > 89.0, 300.0, first_age)
    dob = (
        (base - _seconds(shown_age * 365.25 * 86400))
        .astype("datetime64[D]")
        .astype("datetime64[s]")
    )
    frame = pd.DataFrame(
        {"patient": adm["patient"], "death": death_days, "admit": admit, "hosp": in_hospital}
    )
    last = frame.groupby("patient").tail(1).set_index("patient").sort_index()
    death_at = last["admit"].to_numpy() + _seconds(np.nan_to_num(last["death"].to_numpy()) * 86400)
    dod = pd.Series(death_at.astype("datetime64[D]").astype("datetime64[s]")).where(
        last["death"].notna().to_numpy()
    )
    n = len(subject_ids)
    return pd.DataFrame(
        {
            "ROW_ID": np.arange(1, n + 1),
            "SUBJECT_ID": subject_ids,
            "GENDER": sex,
            "DOB": dob,
            "DOD": dod,
            "DOD_HOSP": dod.where(last["hosp"].to_numpy()),
            "DOD_SSN": dod.where(rng.uniform(size=n) < 0.8),
            "EXPIRE_FLAG": dod.notna().astype(int),
        }
    )


def _diagnoses(
    rng: np.random.Generator,
    admissions: pd.DataFrame,
    respiratory_dx: np.ndarray,
    flags: dict[str, np.ndarray],
) -> pd.DataFrame:
    """DIAGNOSES_ICD: other codes, a respiratory code when planted, comorbidity codes."""
    rows = []
    for i, (subject, hadm) in enumerate(
        admissions[["SUBJECT_ID", "HADM_ID"]].itertuples(index=False)
    ):
        codes = list(rng.choice(OTHER_CODES, int(rng.integers(3, 10)), replace=False))
        if respiratory_dx[i]:
            codes += list(rng.choice(RESPIRATORY_CODES, int(rng.integers(1, 3)), replace=False))
        for flag, options in COMORBIDITY_CODES.items():
            if flags[flag][i]:
                codes.append(str(rng.choice(options)))
        rng.shuffle(codes)
        rows.extend((subject, hadm, seq, code) for seq, code in enumerate(codes, start=1))
    frame = pd.DataFrame(rows, columns=["SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"])
    frame.insert(0, "ROW_ID", np.arange(1, len(frame) + 1))
    return frame


def _extra_itemids(dbsource: str, n: int) -> np.ndarray:
    """ITEMIDs of the extra unrelated items (outside every range the variable mapping uses)."""
    return np.arange(n) + (5900 if dbsource == "carevue" else 228000)


def _d_items(extra_items: int) -> pd.DataFrame:
    extras = [
        (int(itemid), f"Charted item {k + 1}", None, system, None, None)
        for system in ("carevue", "metavision")
        for k, itemid in enumerate(_extra_itemids(system, extra_items))
    ]
    frame = pd.DataFrame(
        D_ITEMS_ROWS + extras,
        columns=["ITEMID", "LABEL", "ABBREVIATION", "DBSOURCE", "CATEGORY", "UNITNAME"],
    )
    frame.insert(0, "ROW_ID", np.arange(1, len(frame) + 1))
    frame.insert(5, "LINKSTO", "chartevents")
    frame["PARAM_TYPE"] = np.where(frame["DBSOURCE"] == "metavision", "Numeric", None)
    frame["CONCEPTID"] = None
    return frame[
        [
            "ROW_ID",
            "ITEMID",
            "LABEL",
            "ABBREVIATION",
            "DBSOURCE",
            "LINKSTO",
            "CATEGORY",
            "UNITNAME",
            "PARAM_TYPE",
            "CONCEPTID",
        ]
    ]


def _d_labitems() -> pd.DataFrame:
    frame = pd.DataFrame(
        D_LABITEMS_ROWS, columns=["ITEMID", "LABEL", "FLUID", "CATEGORY", "LOINC_CODE"]
    )
    frame.insert(0, "ROW_ID", np.arange(1, len(frame) + 1))
    return frame


def _write(frame: pd.DataFrame, path: Path) -> None:
    """One small table as a whole CSV file."""
    path.write_bytes(_csv(frame, header=True))


def _csv(frame: pd.DataFrame, *, header: bool) -> bytes:
    """MIMIC-style CSV: header, strings and dates quoted, numbers bare, missing cells empty."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            # Arrow renders timestamps as "YYYY-MM-DD HH:MM:SS", the release's format.
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
        elif pa.types.is_null(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header))
    return sink.getvalue()


# Physiology per variable: (baseline, severity loading, respiratory loading, noise sd, hours
# between charted values), in the canonical unit.
_PHYSIOLOGY = {
    "heart_rate": (86.0, 11.0, 3.0, 5.0, 1.0),
    "sbp": (121.0, -13.0, 0.0, 7.0, 1.0),
    "dbp": (62.0, -7.0, 0.0, 5.0, 1.0),
    "mbp": (81.0, -9.0, 0.0, 5.0, 1.0),
    "resp_rate": (18.0, 1.0, 4.5, 2.0, 1.0),
    "spo2": (97.0, -0.3, -2.2, 1.0, 1.0),
    "temperature": (37.0, 0.35, 0.3, 0.25, 4.0),
    "gcs": (13.5, -2.2, 0.0, 0.8, 4.0),
    "fio2": (40.0, 2.0, 12.0, 4.0, 6.0),
    "glucose": (135.0, 22.0, 0.0, 18.0, 6.0),
    "ph": (7.39, -0.045, -0.03, 0.025, 8.0),
    "pao2": (105.0, -4.0, -20.0, 12.0, 8.0),
}
_IMPOSSIBLE = {"heart_rate": 0.0, "sbp": 999.0, "dbp": -10.0, "mbp": 0.0, "resp_rate": 150.0,
               "spo2": 0.0, "temperature": 0.0, "gcs": 0.0, "fio2": 0.0, "glucose": 9999.0,
               "ph": 0.0, "pao2": 0.0}  # fmt: skip


def _write_events(
    cohort: MimicCohort, out: Path, seed: int, chart_hours: float, extra_items: int
) -> dict[str, int]:
    """Stream CHARTEVENTS and LABEVENTS, ``CHUNK_STAYS`` stays at a time."""
    counts = {"chart": 0, "lab": 0}
    with open(out / "CHARTEVENTS.csv", "wb") as chart, open(out / "LABEVENTS.csv", "wb") as lab:
        for start in range(0, len(cohort.icustays), CHUNK_STAYS):
            chunk = slice(start, start + CHUNK_STAYS)
            rng = np.random.default_rng(derive_seed(seed, "mimic-events", start))
            frames = _chunk_events(
                rng, cohort.icustays.iloc[chunk], cohort.truth.iloc[chunk], chart_hours, extra_items
            )
            for (name, frame), handle in zip(frames.items(), (chart, lab), strict=True):
                frame.insert(0, "ROW_ID", np.arange(1, len(frame) + 1) + counts[name])
                handle.write(_csv(frame, header=start == 0))
                counts[name] += len(frame)
    return counts


def _times(rng: np.random.Generator, start: float, end: float, every: float) -> np.ndarray:
    """Irregular charting times (hours) in [start, end): jittered steps with occasional gaps."""
    n = max(1, int((end - start) / every * 1.3) + 2)
    steps = every * rng.uniform(0.5, 1.5, n) * np.where(rng.uniform(size=n) < 0.05, 3.0, 1.0)
    times = start + rng.uniform(0, every) + np.cumsum(steps) - steps[0]
    return times[times < end]


class _Rows:
    """Column-wise accumulator of event rows (lists of arrays, concatenated once)."""

    def __init__(self, *columns: str) -> None:
        self.parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}

    def add(self, n: int, **values: object) -> None:
        for column, value in values.items():
            self.parts[column].append(
                np.asarray(value) if np.ndim(value) else np.full(n, value, dtype=object)
            )

    def column(self, name: str, dtype: object = None) -> np.ndarray:
        parts = self.parts[name]
        return np.concatenate(parts).astype(dtype) if parts else np.array([], dtype=dtype)


def _chunk_events(
    rng: np.random.Generator,
    stays: pd.DataFrame,
    truth: pd.DataFrame,
    chart_hours: float,
    extra_items: int,
) -> dict[str, pd.DataFrame]:
    """Chart and lab rows for a chunk of stays, from 2 h before ICU admission."""
    chart = _Rows("ICUSTAY", "ITEMID", "t", "VALUE", "VALUENUM", "VALUEUOM")
    lab = _Rows("ICUSTAY", "ITEMID", "t", "VALUENUM", "VALUEUOM")
    intimes = stays["INTIME"].to_numpy().astype("datetime64[s]").astype("int64")
    for i, (fact, t0, los) in enumerate(
        zip(truth.itertuples(index=False), intimes, stays["LOS"], strict=True)
    ):
        items = CHART_ITEMS[fact.dbsource]
        end = min(los * 24.0, chart_hours)
        for var, (mean, k_sev, k_resp, sd, every) in _PHYSIOLOGY.items():
            if var == "fio2" and not fact.ventilated:
                continue
            times = _times(rng, -2.0, end, every)
            level = mean + k_sev * fact.severity_factor + k_resp * fact.respiratory_factor
            drift = np.cumsum(rng.normal(0.0, sd * 0.2, len(times)))
            values = level + drift + rng.normal(0.0, sd, len(times))
            if var in LAB_ITEMS:
                # Blood gases and glucose: about half come from the laboratory system.
                take = rng.uniform(size=len(times)) < 0.5
                itemid, uom = LAB_ITEMS[var]
                n = int(take.sum())
                lab.add(n, ICUSTAY=i, ITEMID=itemid, t=t0 + 3600.0 * times[take],
                        VALUENUM=_round(var, values[take]), VALUEUOM=uom)  # fmt: skip
                times, values = times[~take], values[~take]
            _chart_variable(rng, chart, i, var, items, t0 + 3600.0 * times, values, fact)
        # Distractors the extractor must skip: a text-valued item and unrelated labs.
        times = _times(rng, 0.0, end, 2.0)
        chart.add(len(times), ICUSTAY=i, ITEMID=DISTRACTOR_CHART[fact.dbsource][0],
                  t=t0 + 3600.0 * times, VALUE="Sinus Rhythm", VALUENUM=np.nan, VALUEUOM=None)  # fmt: skip
        for itemid, (_, uom, mean, sd) in DISTRACTOR_LABS.items():
            times = _times(rng, -6.0, end, 12.0)
            lab.add(len(times), ICUSTAY=i, ITEMID=itemid, t=t0 + 3600.0 * times,
                    VALUENUM=np.round(rng.normal(mean, sd, len(times)), 1), VALUEUOM=uom)  # fmt: skip
        if extra_items:
            times = np.tile(_times(rng, 0.0, end, 1.0), extra_items)
            ids = np.repeat(_extra_itemids(fact.dbsource, extra_items), len(times) // extra_items)
            chart.add(len(times), ICUSTAY=i, ITEMID=ids, t=t0 + 3600.0 * times, VALUE=None,
                      VALUENUM=np.round(rng.normal(50.0, 10.0, len(times))), VALUEUOM=None)  # fmt: skip
    return {"chart": _chart_frame(rng, chart, stays), "lab": _lab_frame(rng, lab, stays)}


def _round(var: str, values: np.ndarray) -> np.ndarray:
    """Values as charted: pH to 0.01, temperature to 0.1, the rest whole numbers."""
    return np.round(values, {"ph": 2, "temperature": 1}.get(var, 0))


def _chart_variable(
    rng: np.random.Generator,
    chart: _Rows,
    stay: int,
    var: str,
    items: dict[str, tuple[int, str]],
    times: np.ndarray,
    values: np.ndarray,
    fact: object,
) -> None:
    """Chart one variable of one stay with its system's ITEMIDs, units and quirks."""
    n = len(times)
    if var == "gcs" and fact.dbsource == "metavision":
        # MetaVision charts the three GCS components, as text with a numeric score.
        total = np.clip(np.rint(values), 3, 15)
        eye = np.clip(np.rint(total * 4 / 15), 1, 4)
        motor = np.clip(np.rint(total * 6 / 15), 1, 6)
        verbal = np.clip(total - eye - motor, 1, 5)
        for part, score in (("gcs_eye", eye), ("gcs_verbal", verbal), ("gcs_motor", motor)):
            texts = np.array([GCS_TEXT[part][int(s)] for s in score], dtype=object)
            chart.add(n, ICUSTAY=stay, ITEMID=items[part][0], t=times, VALUE=texts,
                      VALUENUM=score, VALUEUOM=None)  # fmt: skip
        return
    key = var
    if var == "temperature":
        key = "temp_f" if fact.temperature_unit == "F" else "temp_c"
        values = values * 9.0 / 5.0 + 32.0 if key == "temp_f" else values
    itemid, uom = items[key]
    if var == "gcs":
        nums = np.clip(np.rint(values), 3, 15)
    elif var == "fio2":
        values = np.clip(values, 21.0, 100.0)
        # CareVue's FiO2 set is a fraction; in MetaVision some nurses type a fraction too.
        as_fraction = np.ones(n, bool) if fact.dbsource == "carevue" else rng.uniform(size=n) < 0.1
        nums = np.where(as_fraction, np.round(values / 100.0, 2), np.round(values))
    else:
        nums = _round(var, np.minimum(values, 100.0) if var == "spo2" else values)
    nums = np.where(rng.uniform(size=n) < 0.003, _IMPOSSIBLE[var], nums)
    chart.add(n, ICUSTAY=stay, ITEMID=itemid, t=times, VALUE=None, VALUENUM=nums,
              VALUEUOM=uom or None)  # fmt: skip


def _to_datetime(seconds: np.ndarray) -> np.ndarray:
    return np.rint(seconds).astype("int64").astype("datetime64[s]")


def _number_text(values: np.ndarray) -> np.ndarray:
    """VALUE text of numeric results (``97``, ``7.35``), empty for NaN."""
    text = pc.cast(pa.array(values, from_pandas=True), pa.string())
    return text.to_numpy(zero_copy_only=False)


def _chart_frame(rng: np.random.Generator, chart: _Rows, stays: pd.DataFrame) -> pd.DataFrame:
    """CHARTEVENTS columns, with ERROR/WARNING rows for MetaVision and CareVue's STOPPED."""
    stay = chart.column("ICUSTAY", np.int64)
    n = len(stay)
    charttime = _to_datetime(chart.column("t", float))
    metavision = stays["DBSOURCE"].to_numpy()[stay] == "metavision"
    error = metavision & (rng.uniform(size=n) < 0.005)
    valuenum = chart.column("VALUENUM", float)
    valuenum = np.where(error, valuenum * rng.choice([10.0, -1.0], n), valuenum)
    text = chart.column("VALUE", object)
    text = np.where(pd.isna(text) | error, _number_text(valuenum), text)
    return pd.DataFrame(
        {
            "SUBJECT_ID": stays["SUBJECT_ID"].to_numpy()[stay],
            "HADM_ID": stays["HADM_ID"].to_numpy()[stay],
            "ICUSTAY_ID": stays["ICUSTAY_ID"].to_numpy()[stay],
            "ITEMID": chart.column("ITEMID", np.int64),
            "CHARTTIME": charttime,
            "STORETIME": charttime + _seconds(rng.uniform(60, 1800, n)),
            "CGID": rng.integers(14000, 21000, n),
            "VALUE": text,
            "VALUENUM": valuenum,
            "VALUEUOM": chart.column("VALUEUOM", object),
            "WARNING": pd.Series(np.zeros(n, dtype=np.int64)).where(metavision).astype("Int64"),
            "ERROR": pd.Series(error.astype(np.int64)).where(metavision).astype("Int64"),
            "RESULTSTATUS": None,
            "STOPPED": np.where(metavision, None, "NotStopd"),
        }
    )


def _lab_frame(rng: np.random.Generator, lab: _Rows, stays: pd.DataFrame) -> pd.DataFrame:
    """LABEVENTS columns; a few results lack the HADM_ID (drawn outside an admission)."""
    stay = lab.column("ICUSTAY", np.int64)
    n = len(stay)
    valuenum = lab.column("VALUENUM", float)
    hadm = pd.Series(stays["HADM_ID"].to_numpy()[stay]).mask(rng.uniform(size=n) < 0.03)
    return pd.DataFrame(
        {
            "SUBJECT_ID": stays["SUBJECT_ID"].to_numpy()[stay],
            "HADM_ID": hadm.astype("Int64"),
            "ITEMID": lab.column("ITEMID", np.int64),
            "CHARTTIME": _to_datetime(lab.column("t", float)),
            "VALUE": _number_text(valuenum),
            "VALUENUM": valuenum,
            "VALUEUOM": lab.column("VALUEUOM", object),
            "FLAG": np.where(rng.uniform(size=n) < 0.2, "abnormal", None),
        }
    )
