"""Slides and images through a real snakemake run: per-slide jobs, a dropped-in CLAM file,
a slide without mpp metadata, a slide without tissue, images, the bag stores and QC."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from mmlego.data.labels import read_labels
from mmlego.data.store import read_modality
from mmlego.demo.slides import write_slide
from mmlego.preprocess.naming import feature_tag
from tests.conftest import REPO, run_snakemake

ENCODER = {"arch": "resnet18", "patch_size": 64, "mpp": 2.0, "num_workers": 0, "batch_size": 16}


def _study(root):
    slides = root / "slides"
    slides.mkdir()
    write_slide(slides / "A.tif", size=1024, seed=0)
    write_slide(slides / "B.tif", size=1024, seed=1)
    write_slide(slides / "C.tif", size=1024, seed=2, mpp=None)  # mpp only in the manifest
    write_slide(slides / "D.tif", size=512, seed=3, tissue=False)
    pd.DataFrame(
        {
            "patient_id": ["p1", "p1", "p2", "p3"],
            "path": [str(slides / f"{s}.tif") for s in "ABCD"],
            "mpp": [None, None, 0.5, None],
        }
    ).to_csv(root / "slides.csv", index=False)
    rng = np.random.default_rng(0)
    photos = []
    for name, pid in (("x1", "p1"), ("x2", "p2"), ("x3", "p2")):
        path = root / f"{name}.jpg"
        Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(path)
        photos.append((pid, str(path)))
    pd.DataFrame(photos, columns=["patient_id", "path"]).to_csv(root / "photos.csv", index=False)
    pd.DataFrame(
        {
            "patient_id": ["p1", "p2", "p3", "p4"],
            "time": [5.0, 9.0, 3.0, 7.0],
            "event": [1, 0, 1, 0],
        }
    ).to_csv(root / "labels.csv", index=False)


@pytest.mark.skipif(
    not (REPO / "workflow" / "rules" / "preprocess.smk").exists(),
    reason="the manifests come from the checkpoint of preprocess.smk",
)
def test_slides_and_images_to_bag_stores(tmp_path):
    _study(tmp_path)
    out = tmp_path / "out"
    config = {
        "output_dir": str(out),
        "models": ["lego_block"],
        "encoder": ENCODER,
        "preprocess": {"skip_slides_without_tissue": True},
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "survival",
                "labels": {"path": str(tmp_path / "labels.csv"), "time": "time", "event": "event"},
                "modalities": {
                    "slides": {"type": "wsi", "manifest": str(tmp_path / "slides.csv")},
                    "photos": {"type": "image", "manifest": str(tmp_path / "photos.csv")},
                },
            }
        },
    }
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(config))
    ds = out / "mine"
    first = run_snakemake(
        str(ds / "manifests" / "slides.csv"), "--cores", "2", "--configfile", str(study)
    )
    assert first.returncode == 0, first.stdout + first.stderr

    # Features made elsewhere (CLAM/TRIDENT layout, no attributes of ours) dropped in for B.
    tag = feature_tag({"weights": None, "input_size": None, "precision": "fp32", **ENCODER})
    dropped = ds / "features" / "slides" / tag / "B.h5"
    dropped.parent.mkdir(parents=True)
    with h5py.File(dropped, "w") as h5:
        h5.create_dataset("features", data=np.full((5, 512), 7.0, np.float32))
        h5.create_dataset("coords", data=np.arange(10).reshape(5, 2) * 64)

    targets = [
        ds / "modalities" / "slides.h5",
        ds / "modalities" / "photos.h5",
        ds / "qc" / "features_slides.csv",
        ds / "qc" / "tissue" / "slides",
    ]
    args = [*map(str, targets), "--cores", "2", "--configfile", str(study)]
    second = run_snakemake(*args)
    assert second.returncode == 0, second.stdout + second.stderr

    logs = ds.parent / "logs" / "mine" / "features" / "slides"
    assert {p.stem for p in logs.glob("*.log")} == {"A", "C", "D"}  # B was not recomputed
    labels, _ = read_labels(ds / "labels.parquet")
    slides = read_modality(ds / "modalities" / "slides.h5")
    assert slides.ids.tolist() == labels["patient_id"].tolist()
    present = dict(zip(slides.ids, slides.present, strict=True))
    assert present == {"p1": True, "p2": True, "p3": False, "p4": False}
    p1 = slides.bag(slides.index_of(["p1"])[0])
    assert (p1 == 7.0).all(axis=1).sum() == 5 and len(p1) > 5  # A's patches and B's rows
    assert slides.attrs["random_init"] and slides.dim == 512
    qc = pd.read_csv(ds / "qc" / "features_slides.csv").set_index("item_id")
    assert qc.loc["D", "status"] == "skipped: no tissue" and qc.loc["B", "encoder"] == "external"
    assert qc.loc["C", "mpp_source"] == "manifest" and qc.loc["A", "mpp_source"] == "metadata"
    assert sorted(p.stem for p in (ds / "qc" / "tissue" / "slides").glob("*.png")) == list("ABCD")

    photos = read_modality(ds / "modalities" / "photos.h5")
    sizes = dict(zip(photos.ids, np.diff(photos.offsets), strict=True))
    assert sizes == {"p1": 64, "p2": 128, "p3": 0, "p4": 0}  # 512-px images, 64-px grid

    again = run_snakemake(*args, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    # Reader workers change how patches are read, not the features: nothing is re-encoded.
    config["encoder"] = {**ENCODER, "num_workers": 2}
    study.write_text(yaml.safe_dump(config))
    moved = run_snakemake(*args, "-n")
    assert "Nothing to be done" in moved.stdout + moved.stderr, moved.stdout
