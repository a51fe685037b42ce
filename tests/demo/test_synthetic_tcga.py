"""The TCGA-like cohort: MCAT/PORPOISE table format, slides, determinism, planted signal."""

from __future__ import annotations

import math
import re
import zipfile

import numpy as np
import openslide
import pandas as pd
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

from mmlego.demo.tcga import OMICS_SHARED, TABLE_NAME, generate_tcga, simulate_tcga

SLIDE_NAME = re.compile(r"^(TCGA-[0-9A-Z]{2}-[0-9A-Z]{4})-01Z-00-DX[12]\.[0-9A-F-]{36}\.tif$")
TINY = dict(patients=10, slide_size=512, genes=6)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("tcga")
    return out, generate_tcga(out, seed=5, **TINY)


def test_table_has_the_mcat_layout_and_dtypes(cohort):
    out, _ = cohort
    table = pd.read_csv(out / TABLE_NAME)
    assert list(table.columns[:8]) == [
        "case_id",
        "slide_id",
        "site",
        "is_female",
        "oncotree_code",
        "age",
        "survival_months",
        "censorship",
    ]
    genes = table.columns[8:]
    assert len(genes) == 3 * 6
    assert [c.rsplit("_", 1)[1] for c in genes] == ["mut"] * 6 + ["cnv"] * 6 + ["rnaseq"] * 6
    assert table["case_id"].str.fullmatch(r"TCGA-[0-9A-Z]{2}-[0-9A-Z]{4}").all()
    assert table["slide_id"].map(lambda s: bool(SLIDE_NAME.match(s))).all()
    assert table["survival_months"].dtype == np.float64 and (table["survival_months"] > 0).all()
    assert table["censorship"].dtype == np.int64 and set(table["censorship"]) <= {0, 1}
    assert table["age"].dtype == np.int64 and table["is_female"].isin([0, 1]).all()
    for column in genes:
        assert pd.api.types.is_numeric_dtype(table[column]), column
    assert set(table.filter(like="_mut").stack().dropna().unique()) <= {0, 1}
    assert set(table.filter(like="_cnv").stack().dropna().unique()) <= {-2, -1, 0, 1, 2}
    # One row per slide: a patient with two slides repeats its case data.
    per_case = table.groupby("case_id")[["survival_months", "censorship", "age"]].nunique()
    assert (per_case == 1).all().all()
    with zipfile.ZipFile(out / TABLE_NAME) as archive:
        assert archive.namelist() == [TABLE_NAME.removesuffix(".zip")]


def test_slides_folder_and_table_disagree_the_way_real_downloads_do(cohort):
    out, result = cohort
    table = pd.read_csv(out / TABLE_NAME)
    files = sorted(p.name for p in (out / "slides").iterdir())
    assert all(SLIDE_NAME.match(f) for f in files)
    assert not any(f.startswith(".tmp") for f in files)
    tabled = set(table["slide_id"])
    truth = result.truth.set_index("case_id")
    # Patients planned without a slide: their row names a slide that is not in the folder.
    for case in truth.index[truth["n_slides"] == 0]:
        assert not {s for s in tabled if s.startswith(case)} & set(files)
    # Orphan slides: in the folder, in no row.
    orphans = set(files) - tabled
    assert len(orphans) == 2
    assert {SLIDE_NAME.match(f).group(1) for f in orphans}.isdisjoint(truth.index)
    assert len(files) == int(truth["n_slides"].sum()) + 2
    tissue = result.slides.set_index("file_name")["tissue_fraction"]
    for name in files:
        with openslide.OpenSlide(out / "slides" / name) as wsi:
            assert wsi.level_count == 3
            assert wsi.dimensions == (512, 512)
            assert float(wsi.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
            thumb = np.asarray(wsi.read_region((0, 0), 2, (32, 32)).convert("RGB"), float)
        # Stained (saturated) pixels: the true tissue, plus at most the thin pen stroke.
        saturation = (thumb.max(-1) - thumb.min(-1)) / thumb.max(-1)
        assert 0.1 < tissue[name] < 0.6
        assert tissue[name] - 0.03 < (saturation > 0.15).mean() < tissue[name] + 0.12


def test_patients_without_omics_have_empty_gene_cells(cohort):
    out, result = cohort
    table = pd.read_csv(out / TABLE_NAME).set_index("case_id")
    genes = table.columns[7:]
    truth = result.truth.set_index("case_id")
    for case in truth.index:
        cells = table.loc[[case], genes]
        assert cells.isna().all(axis=None) == (not truth.loc[case, "has_omics"])


def test_realised_tumour_fraction_follows_the_slide_factor(cohort):
    _, result = cohort
    truth = result.truth.dropna(subset=["tumour_fraction_realised"])
    assert np.abs(truth["tumour_fraction_realised"] - truth["tumour_fraction"]).max() < 0.12
    rho = np.corrcoef(truth["slide_factor"], truth["tumour_fraction_realised"])[0, 1]
    assert rho > 0.9


def test_same_seed_same_files_other_seed_differs(tmp_path, cohort):
    out, _ = cohort
    again = tmp_path / "again"
    generate_tcga(again, seed=5, **TINY)
    assert (again / TABLE_NAME).read_bytes() == (out / TABLE_NAME).read_bytes()
    names = sorted(p.name for p in (out / "slides").iterdir())
    assert names == sorted(p.name for p in (again / "slides").iterdir())
    first = names[0]
    with (
        openslide.OpenSlide(out / "slides" / first) as a,
        openslide.OpenSlide(again / "slides" / first) as b,
    ):
        assert np.array_equal(
            np.asarray(a.read_region((0, 0), 0, (512, 512))),
            np.asarray(b.read_region((0, 0), 0, (512, 512))),
        )
    other = simulate_tcga(patients=10, genes=6, seed=6)
    assert not other.table.equals(simulate_tcga(patients=10, genes=6, seed=5).table)


def _cindex(frame: pd.DataFrame, risk: np.ndarray) -> float:
    event = frame["censorship"].to_numpy() == 0
    return concordance_index_censored(event, frame["survival_months"].to_numpy(), risk)[0]


def test_oracle_on_true_factors_beats_any_single_modality():
    truth = simulate_tcga(patients=1500, genes=8, seed=0).truth
    assert truth["censorship"].mean() == pytest.approx(0.6, abs=0.01)
    factors = truth[["mut_factor", "cnv_factor", "rna_factor"]].to_numpy().T
    pairwise = np.corrcoef(factors)[np.triu_indices(3, 1)]
    assert np.allclose(pairwise, OMICS_SHARED, atol=0.06), pairwise
    assert abs(np.corrcoef(truth["slide_factor"], factors[0])[0, 1]) < 0.06
    omics = truth[["mut_factor", "cnv_factor", "rna_factor"]].sum(axis=1) / math.sqrt(3)
    features = pd.DataFrame(
        {
            "slide": truth["slide_factor"],
            "mut": truth["mut_factor"],
            "cnv": truth["cnv_factor"],
            "rna": truth["rna_factor"],
            "age": truth["age"],
            "slide_x_omics": truth["slide_factor"] * omics,
        }
    )
    train, test = truth.index[:1000], truth.index[1000:]
    y = Surv.from_arrays(truth["censorship"] == 0, truth["survival_months"])
    oracle = CoxPHSurvivalAnalysis().fit(features.loc[train], y[train])
    c_oracle = _cindex(truth.loc[test], oracle.predict(features.loc[test]))
    assert c_oracle >= 0.75
    single = {
        m: _cindex(truth.loc[test], features.loc[test, m].to_numpy())
        for m in ("slide", "mut", "cnv", "rna")
    }
    assert all(0.55 < c < c_oracle - 0.05 for c in single.values()), single
    # Part of the signal is only in the interaction: the additive model is worse.
    additive = features.columns[:-1]
    plain = CoxPHSurvivalAnalysis().fit(features.loc[train, additive], y[train])
    assert _cindex(truth.loc[test], plain.predict(features.loc[test, additive])) < c_oracle
