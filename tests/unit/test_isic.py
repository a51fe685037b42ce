"""ISIC metadata: image-level samples grouped by patient, 5:1 downsampling by patient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmlego.data.isic import downsample_by_patient, image_manifest, read_isic_metadata


def _meta() -> pd.DataFrame:
    """2 melanoma images (patients A, B); A and B have 1 benign image; C..F have 5 each."""
    rows = [("A", 1), ("A", 0), ("B", 1), ("B", 0)]
    rows += [(p, 0) for p in "CDEF" for _ in range(5)]
    frame = pd.DataFrame(rows, columns=["patient_id", "target"])
    frame.insert(0, "image_name", [f"ISIC_{i:07d}" for i in range(len(frame))])
    frame["sex"] = ["male", "female"] * (len(frame) // 2)
    frame["age_approx"] = np.where(np.arange(len(frame)) == 3, np.nan, 45.0)
    frame["anatom_site_general_challenge"] = ["torso"] * (len(frame) - 1) + [np.nan]
    frame["diagnosis"] = "unknown"
    frame["benign_malignant"] = np.where(frame["target"] == 1, "malignant", "benign")
    return frame


@pytest.mark.parametrize("seed", range(6))
def test_downsampling_keeps_melanomas_and_whole_patients(seed):
    frame = _meta()
    kept = downsample_by_patient(frame, 5, seed)
    assert kept[frame["target"] == 1].all()
    benign = frame[(frame["target"] == 0)].assign(kept=kept[frame["target"] == 0])
    per_patient = benign.groupby("patient_id")["kept"].agg(["all", "any"])
    assert (per_patient["all"] == per_patient["any"]).all()  # all or none of a patient's images
    n_benign = int(benign["kept"].sum())
    # target 5 x 2 = 10 benign images; the draw stops once it has 10, so at most 9 + 5.
    assert 10 <= n_benign <= 14
    assert np.array_equal(kept, downsample_by_patient(frame, 5, seed))


def test_downsampling_known_answer_and_seed_dependence():
    frame = _meta()
    uniform = frame[frame["patient_id"].isin(list("CDEF")) | (frame["target"] == 1)]
    kept = downsample_by_patient(uniform.reset_index(drop=True), 5, 0)
    kept_patients = set(uniform["patient_id"][kept & (uniform["target"].to_numpy() == 0)])
    assert kept.sum() == 2 + 10 and len(kept_patients) == 2  # exactly two 5-image patients
    # Ratio 1 -> 2 benign images needed; the first drawn patient already gives at least 1.
    draws = {tuple(downsample_by_patient(frame, 1, s)) for s in range(20)}
    assert len(draws) > 1  # the seed matters
    assert downsample_by_patient(frame, None, 0).all()
    # Ratio 100 wants more benign images than exist: everything is kept.
    assert downsample_by_patient(frame, 100, 0).all()


def test_read_metadata_groups_images_by_patient(tmp_path):
    path = tmp_path / "train.csv"
    _meta().to_csv(path, index=False)
    result = read_isic_metadata(path, {"downsample": 5}, seed=0, dataset="isic")
    labels = result.labels
    assert labels["label"].sum() == 2 and set(labels.columns) == {"patient_id", "label", "group"}
    assert len(labels) + len(result.excluded) == 24
    assert result.downsampling["kept"].sum() == len(labels)
    (meta,) = result.modalities
    assert meta.feature_names == ["age_approx"]
    assert meta.categorical_names == ["sex", "anatom_site_general_challenge"]
    assert meta.ids.tolist() == labels["patient_id"].tolist()


def test_bad_target_and_missing_images_are_named(tmp_path):
    frame = _meta()
    frame.loc[4, "target"] = 3
    frame.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match="ISIC_0000004"):
        read_isic_metadata(tmp_path / "train.csv", {}, seed=0, dataset="isic")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "ISIC_0000000.jpg").write_bytes(b"x")
    assert image_manifest(tmp_path / "img", ["ISIC_0000000"])["path"].str.endswith(".jpg").all()
    with pytest.raises(FileNotFoundError, match="ISIC_0000001"):
        image_manifest(tmp_path / "img", ["ISIC_0000000", "ISIC_0000001"])


def test_build_writes_labels_store_manifest_and_the_kept_ids(tmp_path):
    from mmlego.data.build import build_manifest, build_tables
    from mmlego.data.labels import read_labels
    from mmlego.data.manifests import read_manifest
    from mmlego.data.store import read_modality
    from mmlego.utils.provenance import provenance

    frame = _meta()
    frame.to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "train").mkdir()
    for name in frame["image_name"]:
        Image.new("RGB", (8, 8)).save(tmp_path / "train" / f"{name}.jpg")
    from mmlego.data.kinds import manifest_job_config, table_reader_config

    ds = {"kind": "isic", "task": "binary", "images": str(tmp_path / "train"),
          "metadata": str(tmp_path / "train.csv"), "downsample": 5, "image_mode": "grid",
          "image_size": 64}  # fmt: skip
    # Each job is given only the keys it reads (as the workflow does): the image settings,
    # which only the image bags read, are in neither, so changing them reruns neither.
    tables_cfg, manifest_cfg = table_reader_config(ds), manifest_job_config(ds)
    assert set(tables_cfg) == {"kind", "task", "metadata", "downsample"}
    assert set(manifest_cfg) == {"kind", "images"}
    out = tmp_path / "out"
    build_tables("isic", tables_cfg, out, provenance=provenance(tables_cfg, seed=3), seed=3)
    labels, meta = read_labels(out / "labels.parquet")
    assert meta["classes"] == ["benign", "melanoma"] and "group" in labels.columns
    kept = pd.read_csv(out / "qc" / "downsampling.csv")
    assert sorted(kept.loc[kept["kept"], "image_name"]) == sorted(labels["patient_id"])
    assert (
        read_modality(out / "modalities" / "metadata.h5").ids.tolist()
        == labels["patient_id"].tolist()
    )
    build_manifest(
        "isic", manifest_cfg, "image", out / "labels.parquet", out / "m.csv", out / "s.csv",
        mod_type="image",
    )  # fmt: skip
    manifest = read_manifest(out / "m.csv")
    assert (
        manifest["patient_id"].tolist()
        == manifest["item_id"].tolist()
        == sorted(labels["patient_id"])
    )
