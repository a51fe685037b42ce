"""Which baselines apply to which dataset, and the config errors when one cannot run."""

from __future__ import annotations

import copy

import pytest

from mmlego.config import ConfigError, check_config, fill_defaults, load_yaml
from mmlego.data.kinds import dataset_modalities
from mmlego.models.catalogue import dataset_runs as catalogue_runs
from mmlego.models.catalogue import member_runs, model_entry

BASELINES = [
    "snn",
    "abmil",
    "perceiver",
    "perceiver_early",
    "late_concat",
    "late_bilinear",
    "ensemble",
    "multimodn",
    "mcat",
    "healnet",
]


def dataset_runs(ds, models):
    """The runs of ``models`` on a dataset's config section."""
    return catalogue_runs(
        dataset_modalities(fill_defaults({"datasets": {"d": ds}})["datasets"]["d"]), models
    )


def trained_runs(ds, models):
    """The runs the shared train rule fits."""
    return [r for r in dataset_runs(ds, models) if model_entry(r.split(".")[0]).made_by == "train"]


@pytest.fixture
def demo(repo):
    return load_yaml(repo / "config" / "config.yaml")


def generic(modalities):
    return {
        "kind": "generic",
        "task": "binary",
        "labels": {"path": "labels.csv", "label": "y"},
        "modalities": {
            name: {"type": kind, **({"manifest": "m.csv"} if kind in ("wsi", "image") else {})}
            | ({"path": "t.csv"} if kind == "tabular" else {})
            | ({"path": "s.csv", "window": [0, 1], "bins": 2} if kind == "timeseries" else {})
            for name, kind in modalities.items()
        },
    }


def test_every_baseline_runs_on_every_demo_dataset(demo):
    config = fill_defaults(copy.deepcopy(demo))
    tcga = dataset_runs(config["datasets"]["tcga"], BASELINES)
    assert tcga == [
        "snn.mut",
        "snn.cnv",
        "snn.rna",
        "abmil.slides",
        "perceiver.slides",
        "perceiver.mut",
        "perceiver.cnv",
        "perceiver.rna",
        "perceiver_early",
        "late_concat",
        "late_bilinear",
        "ensemble",
        "multimodn",
        "mcat",
        "healnet",
    ]
    for name in ("icd9", "mort", "isic"):
        runs = dataset_runs(config["datasets"][name], BASELINES)
        assert len(runs) == 2 + 2 + 7, (name, runs)
    assert "ensemble" not in trained_runs(config["datasets"]["icd9"], BASELINES)
    assert trained_runs(config["datasets"]["icd9"], ["lego_block", "lego_merge", "lego_fuse"]) == [
        "lego_block.static",
        "lego_block.vitals",
    ]
    isic = dataset_modalities(config["datasets"]["isic"])
    assert member_runs(config, "ensemble", isic) == ["snn.metadata", "abmil.image"]


def test_mcat_is_skipped_where_it_does_not_fit():
    two_slides = generic({"a": "wsi", "b": "wsi", "t": "tabular"})
    assert "mcat" not in dataset_runs(two_slides, ["mcat", "healnet"])
    assert dataset_runs(generic({"t": "tabular", "u": "tabular"}), ["mcat", "snn"]) == [
        "snn.t",
        "snn.u",
    ]


def test_a_model_that_fits_no_dataset_is_a_config_error_naming_dataset_model_and_why():
    config = {
        "datasets": {"tab": generic({"t": "tabular", "u": "tabular"})},
        "models": ["snn", "mcat"],
    }
    with pytest.raises(ConfigError) as info:
        check_config(config)
    message = str(info.value)
    assert "'mcat' applies to no dataset" in message and "dataset 'tab'" in message
    assert "exactly one wsi, image or timeseries" in message and "t (tabular)" in message
    config["models"] = ["snn", "healnet"]
    check_config(config)
    config["datasets"] = {"one": generic({"t": "tabular"})}
    with pytest.raises(ConfigError, match=r"'healnet' applies to no dataset.*needs at least 2"):
        check_config(config)
    config["models"] = ["abmil"]
    with pytest.raises(
        ConfigError, match="abmil needs a modality of type timeseries or wsi or image"
    ):
        check_config(config)


def test_an_ensemble_needs_two_member_runs(demo):
    config = copy.deepcopy(demo)
    config["baselines"] = {"ensemble": {"members": ["abmil"]}}
    with pytest.raises(ConfigError, match=r"baselines\.ensemble\.members.*dataset 'icd9'"):
        check_config(config)
    config["baselines"] = {"ensemble": {"members": ["perceiver"]}}
    check_config(config)


def test_baselines_section_defaults(demo):
    config = fill_defaults(copy.deepcopy(demo))
    params = config["baselines"]
    assert params["dim"] == 64 and params["heads"] == 4
    assert params["healnet"]["weight_sharing"] == "none"
    assert params["ensemble"]["members"] == ["snn", "abmil"]
    bad = copy.deepcopy(demo)
    bad["baselines"] = {"healnet": {"weight_sharing": "all"}}
    with pytest.raises(ConfigError, match=r"baselines\.healnet\.weight_sharing"):
        check_config(bad)


def test_heads_must_divide_the_embedding_width(demo):
    config = copy.deepcopy(demo)
    config["baselines"] = {"dim": 30, "heads": 4}
    with pytest.raises(
        ConfigError, match=r"'baselines\.heads' \(4\) must divide 'baselines\.dim' \(30\)"
    ):
        check_config(config)
