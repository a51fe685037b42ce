"""A config file's relative paths are taken from its folder (issue 20 item 2)."""

from __future__ import annotations

import yaml

from mmlego.config import load_config
from mmlego.config_paths import (
    COMMAND_LINE,
    absolute_paths,
    file_source,
    rebase_paths,
    snakemake_sources,
)


def _generic(labels: str, clinical: str) -> dict:
    return {
        "kind": "generic",
        "task": "binary",
        "labels": {"path": labels, "label": "y"},
        "modalities": {
            "clin": {"type": "tabular", "path": clinical},
            "slides": {"type": "wsi", "manifest": "slides.csv"},
        },
    }


def _write(path, config) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_paths_of_one_file_are_taken_from_its_folder(tmp_path):
    config = {
        "output_dir": "../out",
        "encoder": {"weights": "w/resnet.pt"},
        "datasets": {"mine": _generic("data/labels.csv", "/abs/clinical.csv")},
    }
    path = _write(tmp_path / "study" / "conf" / "study.yaml", config)
    workdir = tmp_path / "study"
    origins = rebase_paths(config, [file_source(path)], workdir)
    assert config["output_dir"] == "out"  # under the working directory: kept relative to it
    assert config["encoder"]["weights"] == "conf/w/resnet.pt"
    ds = config["datasets"]["mine"]
    assert ds["labels"]["path"] == "conf/data/labels.csv"
    assert ds["modalities"]["clin"]["path"] == "/abs/clinical.csv"  # absolute: as written
    assert ds["modalities"]["slides"]["manifest"] == "conf/slides.csv"
    labels = origins["datasets.mine.labels.path"]
    assert (labels.written, labels.source) == ("data/labels.csv", path)
    assert labels.describe() == (
        f"written 'data/labels.csv' in {path}, relative to that file's folder {tmp_path}/study/conf"
    )
    assert "datasets.mine.modalities.clin.path" not in origins


def test_a_path_outside_the_working_directory_becomes_absolute(tmp_path):
    config = {"output_dir": "out", "datasets": {"mine": _generic("labels.csv", "c.csv")}}
    path = _write(tmp_path / "study" / "study.yaml", config)
    rebase_paths(config, [file_source(path)], tmp_path / "elsewhere")
    assert config["output_dir"] == f"{tmp_path}/study/out"
    assert config["datasets"]["mine"]["labels"]["path"] == f"{tmp_path}/study/labels.csv"


def test_each_path_comes_from_the_source_that_set_it_last(tmp_path):
    """--configfile base.yaml site.yaml --config output_dir=runs/x: the site file's labels
    path from the site folder, the base file's table path from the base folder, and the
    --config value from the working directory."""
    base = {"output_dir": "out", "datasets": {"mine": _generic("labels.csv", "clin.csv")}}
    site = {"datasets": {"mine": {"labels": {"path": "site_labels.csv"}}}}
    base_path = _write(tmp_path / "base" / "base.yaml", base)
    site_path = _write(tmp_path / "site" / "site.yaml", site)
    merged = _generic("site_labels.csv", "clin.csv")
    config = {"output_dir": "runs/x", "datasets": {"mine": merged}}
    overrides = {"output_dir": "runs/x"}
    sources = snakemake_sources([base_path, site_path], [base_path, site_path], overrides)
    origins = rebase_paths(config, sources, tmp_path)
    assert config["output_dir"] == "runs/x"
    assert origins["output_dir"].source == COMMAND_LINE
    assert config["datasets"]["mine"]["labels"]["path"] == "site/site_labels.csv"
    assert config["datasets"]["mine"]["modalities"]["clin"]["path"] == "base/clin.csv"


def test_the_snakefiles_own_config_file_comes_first(tmp_path):
    own = _write(tmp_path / "config" / "config.yaml", {"output_dir": "a"})
    given = _write(tmp_path / "b.yaml", {"output_dir": "b"})
    sources = snakemake_sources([given, own], [given], {})
    assert [s.label for s in sources] == [own, given]


def test_a_default_is_left_to_the_working_directory(tmp_path):
    config = {"datasets": {"mine": _generic("labels.csv", "c.csv")}}
    path = _write(tmp_path / "conf" / "study.yaml", config)
    origins = rebase_paths(config, [file_source(path)], tmp_path)
    assert "output_dir" not in config and "output_dir" not in origins


def test_load_config_rebases_and_absolute_paths_are_from_the_working_directory(
    tmp_path, monkeypatch
):
    config = {"output_dir": "out", "datasets": {"mine": _generic("labels.csv", "c.csv")}}
    path = _write(tmp_path / "conf" / "study.yaml", config)
    monkeypatch.chdir(tmp_path)
    loaded = load_config(path)
    assert loaded["output_dir"] == "conf/out"
    paths = absolute_paths(loaded)
    assert paths["output_dir"] == f"{tmp_path}/conf/out"
    assert paths["datasets.mine.modalities.slides.manifest"] == f"{tmp_path}/conf/slides.csv"
    assert "encoder.weights" not in paths  # null: no weights file


def test_the_demo_config_keeps_its_output_folder(repo, monkeypatch):
    monkeypatch.chdir(repo)
    config = load_config(repo / "config" / "config.yaml")
    assert config["output_dir"] == "results/demo"
    assert config["datasets"]["icd9"]["mimic_dir"] == "results/demo/raw/mimic-iii"
