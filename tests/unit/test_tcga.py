"""TCGA all_clean table -> one record per patient, omics groups by suffix, slide manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmlego.data.build import build_manifest, build_tables
from mmlego.data.labels import read_labels
from mmlego.data.manifests import read_manifest
from mmlego.data.store import read_modality
from mmlego.data.tcga import patient_of, read_tcga_table
from mmlego.demo.slides import write_slide
from mmlego.utils.provenance import provenance

P1, P2, P3 = "TCGA-AA-0001", "TCGA-AA-0002", "TCGA-BB-0003"


def _table() -> pd.DataFrame:
    """Three patients, P1 with two slide rows, P3 without omics, in the MCAT layout."""
    return pd.DataFrame(
        {
            "Unnamed: 0": [0, 1, 2, 3],
            "case_id": [P1, P1, P2, P3],
            "slide_id": [
                f"{P1}-01Z-00-DX1.a.svs",
                f"{P1}-01Z-00-DX2.b.svs",
                f"{P2}-01Z-00-DX1.c.svs",
                f"{P3}-01Z-00-DX1.d.svs",
            ],
            "survival_months": [12.5, 12.5, 30.0, 4.0],
            "censorship": [0, 0, 1, 0],
            "oncotree_code": ["BLCA", "BLCA", "BLCA", "BLCA"],
            "age": [61, 61, 70, np.nan],
            "is_female": [0, 0, 1, 1],
            "TP53_mut": [1, 1, 0, np.nan],
            "KRAS_mut": [0, 0, 1, np.nan],
            "TP53_cnv": [-1, -1, 2, np.nan],
            "TP53_rnaseq": [0.5, 0.5, -1.2, np.nan],
        }
    )


def test_patient_of_takes_the_12_char_barcode():
    assert patient_of("TCGA-2F-A9KO-01Z-00-DX1.195576CF.svs") == "TCGA-2F-A9KO"
    assert patient_of("tcga-2f-a9ko-01z") == "TCGA-2F-A9KO"
    assert patient_of("slide_001.svs") is None


def test_separate_groups_one_row_per_patient(tmp_path):
    path = tmp_path / "tcga_blca_all_clean.csv.zip"
    _table().to_csv(path, index=False, compression={"method": "zip", "archive_name": "t.csv"})
    result = read_tcga_table(path, {"omics_as": "separate", "omics": ["mut", "cnv", "rna"]})
    assert result.labels["patient_id"].tolist() == [P1, P2, P3]
    assert result.labels["time"].tolist() == [12.5, 30.0, 4.0]
    assert result.labels["event"].tolist() == [1, 0, 1]  # event = 1 - censorship
    mods = {m.name: m for m in result.modalities}
    assert list(mods) == ["mut", "cnv", "rna"]
    assert mods["mut"].feature_names == ["TP53_mut", "KRAS_mut"]
    np.testing.assert_array_equal(mods["mut"].values[:2], [[1, 0], [0, 1]])
    assert mods["mut"].present.tolist() == [True, True, False]  # P3 has no omics
    assert np.isnan(mods["rna"].values[2]).all()


def test_joint_omics_adds_clinical_and_categorical(tmp_path):
    path = tmp_path / "t.csv"
    _table().to_csv(path, index=False)
    ds = {
        "omics_as": "joint",
        "omics": ["mut", "rna"],
        "clinical": ["age", "is_female", "oncotree_code"],
    }
    (omics,) = read_tcga_table(path, ds).modalities
    assert omics.name == "omics"
    assert omics.feature_names == ["TP53_mut", "KRAS_mut", "TP53_rnaseq", "age", "is_female"]
    assert omics.categorical_names == ["oncotree_code"]
    assert omics.categorical[:, 0].tolist() == ["BLCA"] * 3


def test_conflicting_labels_and_bad_censorship_name_the_patient(tmp_path):
    table = _table()
    table.loc[1, "survival_months"] = 13.0
    table.to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match=f"survival_months differs .*{P1}"):
        read_tcga_table(tmp_path / "a.csv", {})
    table = _table()
    table.loc[2, "censorship"] = 2
    table.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match=f"censorship must be 0 .*{P2}"):
        read_tcga_table(tmp_path / "b.csv", {})


def test_an_empty_case_id_names_its_data_row(tmp_path):
    table = _table()
    table.loc[2, "case_id"] = None
    table.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match=r"t\.csv: empty id in column 'case_id' at data row 3 "):
        read_tcga_table(tmp_path / "t.csv", {})


def test_patients_without_positive_time_are_excluded_with_a_reason(tmp_path):
    table = _table()
    table.loc[3, "survival_months"] = 0.0
    table.to_csv(tmp_path / "t.csv", index=False)
    result = read_tcga_table(tmp_path / "t.csv", {})
    assert result.labels["patient_id"].tolist() == [P1, P2]
    assert result.excluded["patient_id"].tolist() == [P3]


def test_tables_and_manifest_end_to_end(tmp_path):
    table_path = tmp_path / "raw" / "t.csv"
    table_path.parent.mkdir()
    _table().to_csv(table_path, index=False)
    slides = tmp_path / "raw" / "slides"
    (slides / "uuid1").mkdir(parents=True)
    for name in (
        f"uuid1/{P1}-01Z-00-DX1.a.svs",
        f"{P1}-01Z-00-DX2.b.svs",
        f"{P2}-01Z-00-DX1.c.tif",
        "TCGA-ZZ-9999-01Z-00-DX1.e.svs",
        "notes.txt",
        "thumb.svs",
    ):
        # The labelled patients' slides are real (the manifest step opens them); the rest
        # are never opened.
        if name.startswith((P1, f"uuid1/{P1}", P2)):
            write_slide(slides / name, size=256, seed=0)
        else:
            (slides / name).write_bytes(b"x")
    ds = {
        "kind": "tcga",
        "task": "survival",
        "table": str(table_path),
        "slides": str(slides),
        "omics_as": "joint",
        "omics": ["mut", "cnv", "rna"],
        "clinical": ["age", "is_female"],
    }
    out = tmp_path / "out"
    build_tables("tcga", ds, out, provenance=provenance(ds, seed=0), seed=0)
    labels, meta = read_labels(out / "labels.parquet")
    assert meta["task"] == "survival"
    store = read_modality(out / "modalities" / "omics.h5")
    assert store.ids.tolist() == labels["patient_id"].tolist()
    build_manifest(
        "tcga",
        ds,
        "slides",
        out / "labels.parquet",
        out / "manifests" / "slides.csv",
        out / "qc" / "skipped_slides.csv",
        mod_type="wsi",
    )
    manifest = read_manifest(out / "manifests" / "slides.csv")
    assert manifest["patient_id"].tolist() == [P1, P1, P2]
    assert manifest["item_id"].tolist() == [
        f"{P1}-01Z-00-DX1.a",
        f"{P1}-01Z-00-DX2.b",
        f"{P2}-01Z-00-DX1.c",
    ]
    skipped = pd.read_csv(out / "qc" / "skipped_slides.csv")
    # The unlabelled patient's slide, the non-barcode file, and P3's table slide without a file.
    assert len(skipped) == 3
    assert skipped["reason"].str.contains("TCGA-ZZ-9999 has no label row").any()
    missing = skipped[skipped["reason"].str.startswith("listed in the table")]
    assert missing["item"].tolist() == [f"{P3}-01Z-00-DX1.d.svs"]


def test_reader_on_the_generators_all_clean_table(tmp_path):
    from mmlego.demo.tcga import simulate_tcga

    cohort = simulate_tcga(patients=30, genes=6, seed=1)
    path = tmp_path / "tcga_demo_all_clean.csv.zip"
    cohort.table.to_csv(path, index=False, compression={"method": "zip", "archive_name": "t.csv"})
    result = read_tcga_table(path, {"omics_as": "separate"})
    table = cohort.table.drop_duplicates("case_id").set_index("case_id")
    labels = result.labels.set_index("patient_id")
    assert sorted(labels.index) == sorted(table.index)
    np.testing.assert_allclose(labels["time"], table.loc[labels.index, "survival_months"])
    np.testing.assert_array_equal(labels["event"], 1 - table.loc[labels.index, "censorship"])
    genes_empty = table.filter(regex="_(mut|cnv|rnaseq)$").isna().all(axis=1)
    for data in result.modalities:
        assert data.dim == 6
        assert data.present.tolist() == (~genes_empty.loc[data.ids]).tolist()


def test_per_modality_jobs_write_what_the_one_job_reader_writes(tmp_path):
    """The labels job and each group's job (``read-tables --part``) give the labels, QC rows
    and stores of ``read_tcga_table``; a group's job reads no other group's config."""
    from mmlego import layout
    from mmlego.data.build import build_labels, build_modality_table, join_table_qc
    from mmlego.data.kinds import table_job_config

    table = _table()
    table.loc[3, "survival_months"] = 0.0  # P3 is excluded from the labels
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    ds = {"kind": "tcga", "task": "survival", "table": str(path), "slides": str(tmp_path),
          "omics_as": "separate", "omics": ["mut", "rna"]}  # fmt: skip
    assert table_job_config(ds) == {"kind": "tcga", "task": "survival", "table": str(path)}
    assert table_job_config(ds, "rna") == {"kind": "tcga", "table": str(path),
                                           "omics_as": "separate", "omics": ["rna"]}  # fmt: skip
    one, parts = tmp_path / "one", tmp_path / "parts"
    build_tables("tc", ds, one, provenance=provenance({}), seed=0)
    build_labels("tc", table_job_config(ds), parts, provenance=provenance({}))
    for group in ds["omics"]:
        build_modality_table("tc", table_job_config(ds, group), group,
                             layout.labels(str(parts)), parts, provenance=provenance({}))  # fmt: skip
    qc = [layout.qc_labels_tables(str(parts))]
    qc += [layout.qc_modality_tables(str(parts), g) for g in ds["omics"]]
    join_table_qc(qc, layout.qc_tables(str(parts)))
    assert read_labels(layout.labels(str(parts)))[0].equals(read_labels(layout.labels(str(one)))[0])
    qc_parts = pd.read_csv(layout.qc_tables(str(parts)))
    assert qc_parts.equals(pd.read_csv(layout.qc_tables(str(one))))
    assert qc_parts["patient_id"].tolist() == [P3]
    for group in ds["omics"]:
        a = read_modality(layout.modality_store(str(parts), group))
        b = read_modality(layout.modality_store(str(one), group))
        assert a.feature_names == b.feature_names and list(a.ids) == list(b.ids)
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.present, b.present)
    with pytest.raises(KeyError, match="no tabular modality 'cnv'"):
        build_modality_table("tc", table_job_config(ds, "rna"), "cnv",
                             layout.labels(str(parts)), parts, provenance=provenance({}))  # fmt: skip
