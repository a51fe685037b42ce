"""A config in another folder, run by a real snakemake from a third folder: its relative paths
are taken from its own folder, a manifest's from the manifest's (issue 20 item 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from mmlego import layout
from mmlego.data.labels import read_labels
from mmlego.data.store import read_modality
from tests.conftest import run_snakemake

N = 12


def _study(root):
    """data/: labels, a clinical table and a photo manifest whose paths are relative to data/."""
    data = root / "data"
    (data / "photos").mkdir(parents=True)
    ids = [f"p{i:02d}" for i in range(N)]
    rng = np.random.default_rng(0)
    pd.DataFrame({"patient_id": ids, "y": [0, 1] * (N // 2)}).to_csv(
        data / "labels.csv", index=False
    )
    pd.DataFrame({"patient_id": ids, "age": rng.normal(60, 9, N).round(1)}).to_csv(
        data / "clinical.csv", index=False
    )
    for pid in ids[:4]:
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            data / "photos" / f"{pid}.png"
        )
    manifest = pd.DataFrame({"patient_id": ids[:4], "path": [f"photos/{p}.png" for p in ids[:4]]})
    manifest.to_csv(data / "photos.csv", index=False)
    return ids


def _config(clinical: str = "../data/clinical.csv") -> dict:
    """The study config as written in root/conf/: every path relative to that folder."""
    return {
        "output_dir": "../out",
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "../data/labels.csv", "label": "y"},
                "modalities": {
                    "clin": {"type": "tabular", "path": clinical},
                    "photos": {"type": "image", "manifest": "../data/photos.csv"},
                },
            }
        },
        "models": ["lego_block"],
    }


def _write(path, config):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def test_paths_are_taken_from_the_config_files_folder(tmp_path):
    root = tmp_path / "study"
    ids = _study(root)
    config = _write(root / "conf" / "study.yaml", _config())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ds = root / "out" / "mine"
    targets = [
        root / "out" / "config.resolved.yaml",
        layout.labels(str(ds)),
        layout.modality_store(str(ds), "clin"),
        layout.manifest(str(ds), "photos"),
    ]
    done = run_snakemake(
        *map(str, targets), "--cores", "1", "--configfile", str(config), cwd=elsewhere
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    labels, _ = read_labels(ds / "labels.parquet")
    assert labels["patient_id"].tolist() == ids
    assert read_modality(ds / "modalities" / "clin.h5").present.all()
    manifest = pd.read_csv(ds / "manifests" / "photos.csv")
    assert manifest["path"].tolist() == [
        str(root / "data" / "photos" / f"{p}.png") for p in ids[:4]
    ]
    assert sorted(p.name for p in elsewhere.iterdir()) == [".snakemake"]  # nothing else here

    resolved = yaml.safe_load((root / "out" / "config.resolved.yaml").read_text())
    # Outside the working directory: absolute, as the rules use them; and under provenance.
    assert resolved["output_dir"] == str(root / "out")
    assert resolved["datasets"]["mine"]["labels"]["path"] == str(root / "data" / "labels.csv")
    assert resolved["provenance"]["paths"]["datasets.mine.modalities.photos.manifest"] == str(
        root / "data" / "photos.csv"
    )


def test_a_missing_file_is_named_with_its_resolved_path_and_origin(tmp_path):
    root = tmp_path / "study"
    _study(root)
    config = _write(root / "conf" / "study.yaml", _config(clinical="../data/absent.csv"))
    done = run_snakemake("-n", "--cores", "1", "--configfile", str(config), cwd=tmp_path)
    err = done.stdout + done.stderr
    assert done.returncode != 0
    assert "1 raw input(s) of this study do not exist" in err
    assert f"datasets.mine.modalities.clin.path = {root}/data/absent.csv" in err
    assert (
        f"written '../data/absent.csv' in {config}, relative to that file's folder {root}/conf"
        in err
    )


def test_two_config_files_and_a_command_line_value(tmp_path):
    """`--configfile conf/study.yaml site/site.yaml --config output_dir=runs/x` from the study
    folder: the site file's labels path from the site folder, the rest from conf/, and the
    --config value from the working directory."""
    root = tmp_path / "study"
    _study(root)
    (root / "site").mkdir()
    (root / "data" / "labels.csv").rename(root / "site" / "labels.csv")
    base = _write(root / "conf" / "study.yaml", _config())
    site = _write(
        root / "site" / "site.yaml", {"datasets": {"mine": {"labels": {"path": "labels.csv"}}}}
    )
    target = root / "runs" / "x" / "config.resolved.yaml"
    done = run_snakemake(
        "runs/x/config.resolved.yaml", "--cores", "1", "--configfile", str(base), str(site),
        "--config", "output_dir=runs/x", cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    resolved = yaml.safe_load(target.read_text())
    assert resolved["output_dir"] == "runs/x"
    ds = resolved["datasets"]["mine"]
    assert ds["labels"]["path"] == "site/labels.csv"
    assert ds["modalities"]["clin"]["path"] == "data/clinical.csv"
    assert resolved["provenance"]["paths"]["output_dir"] == str(root / "runs" / "x")
