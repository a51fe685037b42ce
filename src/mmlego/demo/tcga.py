"""A TCGA-like survival cohort: diagnostic slides plus an MCAT/PORPOISE ``all_clean`` table.

Signal. Each patient has four standard-normal factors: ``slide_factor`` (shown in the slides
as the fraction of tumour-like tissue), and ``mut_factor``, ``cnv_factor``, ``rna_factor``
(each carried by a subset of the genes of its omics group). The slide factor is independent;
the omics factors share one genomic draw (pairwise correlation ``OMICS_SHARED``). Event times
follow a Weibull proportional-hazards model with log-hazard

    eta = B_SLIDE * slide + B_OMICS * (mut + cnv + rna) + B_AGE * age_z
          + B_INTERACTION * slide * (mut + cnv + rna) / sqrt(3)

so every modality carries moderate signal on its own and part of it is only in the
slide × omics interaction. Censoring is independent and uniform, with its upper bound
solved for so that the cohort's censored fraction hits ``censored`` (TCGA: 50–70 %).

Format. One CSV row per slide (a patient with two slides has two rows with the same case
data), columns ``case_id, slide_id, site, is_female, oncotree_code, age, survival_months,
censorship`` (1 = censored) and then ``<GENE>_mut`` (0/1), ``<GENE>_cnv`` (-2..2) and
``<GENE>_rnaseq`` (z-scores). Realistic gaps: some table rows name slides that are not in
the slide folder, a few slides in the folder belong to no table row, some patients have no
omics at all (every gene cell empty) and scattered gene cells are missing.
"""

from __future__ import annotations

import logging
import math
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from mmlego.demo.io import write_csv
from mmlego.demo.slides import write_slide
from mmlego.utils.atomic import atomic_dir
from mmlego.utils.seeding import derive_seed

log = logging.getLogger(__name__)

TABLE_NAME = "tcga_demo_all_clean.csv.zip"
B_SLIDE = 1.2
B_OMICS = 0.6
B_AGE = 0.15
B_INTERACTION = 0.5
WEIBULL_SHAPE = 1.3
MEDIAN_MONTHS = 30.0
INFORMATIVE_GENES = 0.25
# Correlation of the three omics factors (one shared genomic draw): real omics layers of a
# tumour are correlated, and it lets each omics block see a useful share of the risk.
OMICS_SHARED = 0.6
# Mutation logits: base rate per gene (about 8-27 %) and the factor's effect on it.
MUTATION_BASE_LOGIT = (-2.5, -1.0)
MUTATION_EFFECT = 2.0
TEXTURE_BANKS = 4

# Real cancer genes first, for a familiar-looking table; synthetic symbols after them.
_KNOWN_GENES = [
    "TP53",
    "PIK3CA",
    "KRAS",
    "PTEN",
    "ARID1A",
    "KMT2D",
    "KDM6A",
    "FGFR3",
    "RB1",
    "ERBB2",
    "CDKN2A",
    "EGFR",
    "BRCA1",
    "BRCA2",
    "ATM",
    "NF1",
    "APC",
    "CTNNB1",
    "SMAD4",
    "FBXW7",
    "MTOR",
    "TSC1",
    "STAG2",
    "ELF3",
    "CREBBP",
    "EP300",
    "NOTCH1",
    "KMT2C",
    "SPTAN1",
    "RHOB",
    "FAT1",
    "ERCC2",
    "CDKN1A",
    "HRAS",
    "NRAS",
    "MYC",
    "CCND1",
    "MDM2",
    "E2F3",
    "SOX2",
    "GATA3",
    "FOXA1",
    "KRT5",
    "KRT14",
    "UPK1B",
    "PPARG",
    "TERT",
    "ZFP36L1",
    "ASXL2",
    "BAP1",
]


@dataclass(frozen=True)
class TcgaCohort:
    """A simulated cohort: per-patient truth, the table rows and the slides to write."""

    truth: pd.DataFrame
    table: pd.DataFrame
    slides: pd.DataFrame


def gene_names(n: int) -> list[str]:
    """``n`` gene symbols: well-known cancer genes first, then ``SYN00001``-style symbols."""
    return _KNOWN_GENES[:n] + [f"SYN{i:05d}" for i in range(1, n - len(_KNOWN_GENES) + 1)]


def simulate_tcga(
    *,
    patients: int = 120,
    genes: int = 60,
    seed: int = 0,
    censored: float = 0.6,
    site: str = "BLCA",
) -> TcgaCohort:
    """Draw a cohort in memory: truth per patient, the ``all_clean`` rows, the slide plan."""
    if patients < 4 or genes < 4:
        raise ValueError(
            f"a TCGA-like cohort needs >= 4 patients and genes, got {patients}, {genes}"
        )
    if not 0.0 <= censored < 1.0:
        raise ValueError(f"censored fraction must be in [0, 1), got {censored}")
    rng = np.random.default_rng(derive_seed(seed, "tcga"))
    # Two extra barcodes for the orphan slides (in the folder, not in the table).
    *cases, orphan_a, orphan_b = _case_ids(rng, patients + 2)
    z = rng.standard_normal((5, patients))
    slide, mut, cnv, rna = _shared_omics(z[:4], z[4], OMICS_SHARED)
    age = np.clip(np.rint(rng.normal(66.0, 10.0, patients)), 30, 90).astype(int)
    is_female = (rng.uniform(size=patients) < 0.3).astype(int)
    age_z = (age - 66.0) / 10.0
    omics = mut + cnv + rna
    eta = (
        B_SLIDE * slide
        + B_OMICS * omics
        + B_AGE * age_z
        + B_INTERACTION * slide * omics / math.sqrt(3.0)
    )
    scale = math.log(2.0) / MEDIAN_MONTHS**WEIBULL_SHAPE
    event_time = (-np.log(rng.uniform(size=patients)) / (scale * np.exp(eta))) ** (
        1.0 / WEIBULL_SHAPE
    )
    censor_time = _censoring(rng.uniform(size=patients), event_time, censored)
    observed = np.minimum(event_time, censor_time)
    censorship = (censor_time < event_time).astype(int)
    tumour_fraction = 0.1 + 0.8 * ndtr(slide)

    n_slides = rng.choice([0, 1, 2], size=patients, p=[0.08, 0.8, 0.12])
    has_omics = rng.uniform(size=patients) >= 0.05
    truth = pd.DataFrame(
        {
            "case_id": cases,
            "slide_factor": slide,
            "mut_factor": mut,
            "cnv_factor": cnv,
            "rna_factor": rna,
            "tumour_fraction": tumour_fraction,
            "age": age,
            "is_female": is_female,
            "log_hazard": eta,
            "event_time": event_time,
            "censor_time": censor_time,
            "survival_months": np.round(np.maximum(observed, 0.1), 2),
            "censorship": censorship,
            "n_slides": n_slides,
            "has_omics": has_omics,
        }
    )
    slides = _plan_slides(rng, truth, [orphan_a, orphan_b], seed)
    omics_table = _omics(rng, genes, mut, cnv, rna, has_omics)
    table = _table(truth, slides, omics_table, site)
    return TcgaCohort(truth=truth, table=table, slides=slides)


def generate_tcga(
    out_dir: str | Path,
    *,
    patients: int = 120,
    slide_size: int = 2048,
    genes: int = 60,
    seed: int = 0,
    censored: float = 0.6,
    workers: int = 1,
) -> TcgaCohort:
    """Write ``out_dir/slides/*.tif`` and ``out_dir/tcga_demo_all_clean.csv.zip``.

    Returns the cohort; its ``truth`` gains ``tumour_fraction_realised``, the mean tumour
    fraction of the patient's written slides (NaN for patients without slides), and its
    ``slides`` (the written ones) gain ``tumour_fraction_realised`` and ``tissue_fraction``.
    """
    out_dir = Path(out_dir)
    cohort = simulate_tcga(patients=patients, genes=genes, seed=seed, censored=censored)
    plan = cohort.slides[cohort.slides["written"]].reset_index(drop=True)
    with atomic_dir(out_dir / "slides") as tmp:
        jobs = [
            dict(
                path=tmp / row.file_name,
                size=slide_size,
                seed=int(row.seed),
                tumour_fraction=float(row.tumour_fraction),
                texture_seed=derive_seed(seed, "tcga-texture", i % TEXTURE_BANKS),
            )
            for i, row in enumerate(plan.itertuples())
        ]
        realised = np.array(_write_slides(jobs, workers)).reshape(-1, 2)
    plan = plan.assign(tumour_fraction_realised=realised[:, 0], tissue_fraction=realised[:, 1])
    write_csv(cohort.table, out_dir / TABLE_NAME)
    per_case = plan.groupby("case_id")["tumour_fraction_realised"].mean()
    truth = cohort.truth.assign(
        tumour_fraction_realised=cohort.truth["case_id"].map(per_case).astype(float)
    )
    log.info(
        "TCGA-like cohort: %d patients, %d slides written, %d table rows, %.0f%% censored",
        patients,
        len(plan),
        len(cohort.table),
        100 * truth["censorship"].mean(),
    )
    return TcgaCohort(truth=truth, table=cohort.table, slides=plan)


def _write_one(job: dict) -> tuple[float, float]:
    truth = write_slide(**job)
    return truth.tumour_fraction, truth.tissue_fraction


def _write_slides(jobs: list[dict], workers: int) -> list[tuple[float, float]]:
    """Write the slides, in ``workers`` processes when more than one."""
    if workers <= 1:
        return [_write_one(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_write_one, jobs, chunksize=4))


def _shared_omics(
    z: np.ndarray, shared: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Slide factor as drawn; omics factors with correlation ``rho`` through one shared draw."""
    slide, mut, cnv, rna = z
    a, b = math.sqrt(rho), math.sqrt(1.0 - rho)
    return slide, a * shared + b * mut, a * shared + b * cnv, a * shared + b * rna


def _case_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Unique TCGA barcodes ``TCGA-<TSS>-<participant>`` (two and four alphanumerics)."""
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    sites = ["".join(rng.choice(alphabet, 2)) for _ in range(max(3, n // 15))]
    cases: list[str] = []
    seen: set[str] = set()
    while len(cases) < n:
        case = f"TCGA-{sites[int(rng.integers(len(sites)))]}-{''.join(rng.choice(alphabet, 4))}"
        if case not in seen:
            seen.add(case)
            cases.append(case)
    return cases


def _censoring(u: np.ndarray, event_time: np.ndarray, target: float) -> np.ndarray:
    """Uniform censoring times ``0.5 + u * (c_max - 0.5)``, with c_max solved by bisection.

    The censored fraction falls as c_max grows, so bisection finds the c_max whose realised
    fraction is closest to ``target`` on this very cohort (deterministically).
    """
    if target <= 0:
        return np.full_like(event_time, np.inf)
    lo, hi = 0.5, 100.0 * float(event_time.max()) + 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.mean(0.5 + u * (mid - 0.5) < event_time) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 + u * (hi - 0.5)


def _plan_slides(
    rng: np.random.Generator, truth: pd.DataFrame, orphans: list[str], seed: int
) -> pd.DataFrame:
    """Every slide named anywhere: DX1/DX2 per patient, and the orphans.

    ``in_table``: named in the table; ``written``: present in the slide folder. A patient
    planned with no slide still gets a table row naming a slide that is never written (as
    when a download is missing); orphans are written but belong to no table row.
    """
    rows = []
    for case, n, fraction in truth[["case_id", "n_slides", "tumour_fraction"]].itertuples(
        index=False
    ):
        rows.extend((case, dx, fraction, True, n > 0) for dx in range(1, max(n, 1) + 1))
    rows.extend((case, 1, 0.5, False, True) for case in orphans)
    plan = []
    for case, dx, fraction, in_table, written in rows:
        slide_uuid = str(uuid.UUID(bytes=rng.bytes(16), version=4)).upper()
        file_name = f"{case}-01Z-00-DX{dx}.{slide_uuid}.tif"
        # Two slides of one patient differ a little, as two sections of one tumour do.
        jitter = float(np.clip(fraction + rng.normal(0.0, 0.03), 0.02, 0.98))
        plan.append(
            {
                "case_id": case,
                "file_name": file_name,
                "tumour_fraction": jitter,
                "in_table": in_table,
                "written": written,
                "seed": derive_seed(seed, "tcga-slide", file_name),
            }
        )
    return pd.DataFrame(plan)


def _omics(
    rng: np.random.Generator,
    genes: int,
    mut: np.ndarray,
    cnv: np.ndarray,
    rna: np.ndarray,
    has_omics: np.ndarray,
) -> pd.DataFrame:
    """Mutation, copy-number and expression columns, each group driven by its own factor."""
    n = len(mut)
    names = gene_names(genes)
    k = max(2, round(INFORMATIVE_GENES * genes))

    def loadings() -> np.ndarray:
        load = np.zeros(genes)
        idx = rng.choice(genes, k, replace=False)
        load[idx] = rng.uniform(0.6, 1.1, k) * rng.choice([-1.0, 1.0], k)
        return load

    # Mutations: rare events, more (or fewer) frequent with the factor on informative genes.
    base = rng.uniform(*MUTATION_BASE_LOGIT, genes)
    p_mut = expit(base[None, :] + MUTATION_EFFECT * mut[:, None] * loadings()[None, :])
    mutations = (rng.uniform(size=(n, genes)) < p_mut).astype(float)
    # Copy number: GISTIC-like calls in -2..2 from a continuous score.
    score = cnv[:, None] * loadings()[None, :] + rng.normal(0.0, 0.7, (n, genes))
    copies = np.clip(np.rint(score), -2, 2)
    # Expression: the factor plus two shared nuisance programmes plus noise, z-scored.
    nuisance = rng.standard_normal((n, 2)) @ rng.normal(0.0, 0.5, (2, genes))
    expr = rna[:, None] * loadings()[None, :] + nuisance + rng.normal(0.0, 0.8, (n, genes))
    expr = np.round((expr - expr.mean(0)) / expr.std(0), 4)
    # Scattered missing cells (CNV and expression), then patients without omics.
    copies[rng.uniform(size=copies.shape) < 0.01] = np.nan
    expr[rng.uniform(size=expr.shape) < 0.01] = np.nan
    blocks = {
        "_mut": pd.DataFrame(mutations, columns=[g + "_mut" for g in names]).astype("Int64"),
        "_cnv": pd.DataFrame(copies, columns=[g + "_cnv" for g in names]).astype("Int64"),
        "_rnaseq": pd.DataFrame(expr, columns=[g + "_rnaseq" for g in names]),
    }
    table = pd.concat(blocks.values(), axis=1)
    table.loc[~has_omics, :] = pd.NA
    return table


def _table(
    truth: pd.DataFrame, slides: pd.DataFrame, omics: pd.DataFrame, site: str
) -> pd.DataFrame:
    """The ``all_clean`` table: one row per tabled slide, with its patient's data."""
    per_case = pd.concat(
        [
            pd.DataFrame(
                {
                    "case_id": truth["case_id"],
                    "site": site,
                    "is_female": truth["is_female"],
                    "oncotree_code": site,
                    "age": truth["age"],
                    "survival_months": truth["survival_months"],
                    "censorship": truth["censorship"],
                }
            ),
            omics,
        ],
        axis=1,
    )
    rows = slides.loc[slides["in_table"], ["case_id", "file_name"]]
    rows = rows.rename(columns={"file_name": "slide_id"}).merge(per_case, on="case_id", how="left")
    first = ["case_id", "slide_id", "site", "is_female", "oncotree_code", "age"]
    return rows[[*first, "survival_months", "censorship", *omics.columns]]
