"""Config schema and semantic checks: good configs pass, bad ones name the key."""

from __future__ import annotations

import copy

import pytest

from mmlego.config import ConfigError, check_config, fill_defaults, load_config, load_yaml
from mmlego.data.kinds import dataset_modalities
from mmlego.models.catalogue import dataset_runs


@pytest.fixture
def demo(repo):
    return load_yaml(repo / "config" / "config.yaml")


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(repo, name):
    config = load_config(repo / "config" / name)
    assert config["splits"]["repeats"] == 5
    assert config["fuse"]["epochs"] == 2


def test_defaults_are_filled_from_the_schema():
    config = fill_defaults(
        {"datasets": {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}}
    )
    assert config["output_dir"] == "results"
    assert config["splits"] == {
        "scheme": "holdout",
        "repeats": 5,
        "folds": 5,
        "train": 0.7,
        "val": 0.15,
        "test": 0.15,
        "max_missing": 0.5,
    }
    assert config["datasets"]["d"]["omics_as"] == "joint"
    assert config["encoder"]["mpp"] == 0.5
    assert config["lego"]["latent_len"] == 64 and config["lego"]["depth"] == 2


def _broken(demo, edit):
    config = copy.deepcopy(demo)
    edit(config)
    with pytest.raises(ConfigError) as info:
        check_config(config)
    return str(info.value)


def test_unknown_model_is_rejected(demo):
    index = len(demo["models"])  # the appended entry's position
    message = _broken(demo, lambda c: c["models"].append("transformer_xl"))
    assert f"models.{index}" in message and "transformer_xl" in message and "lego_merge" in message


def test_wrong_task_is_rejected(demo):
    message = _broken(demo, lambda c: c["datasets"]["icd9"].update(task="regression"))
    assert "datasets.icd9.task" in message and "binary" in message


def test_tcga_must_be_survival(demo):
    message = _broken(demo, lambda c: c["datasets"]["tcga"].update(task="binary"))
    assert "datasets.tcga.task" in message and "survival" in message


def test_split_fractions_must_sum_to_one(demo):
    message = _broken(demo, lambda c: c["splits"].update(train=0.8))
    assert "splits.train" in message and "sum to 1" in message and "1.1" in message


def test_missing_path_key_is_named(demo):
    message = _broken(demo, lambda c: c["datasets"]["isic"].pop("metadata"))
    assert "'metadata' is required under 'datasets.isic'" in message


def test_unknown_modality_type_is_rejected():
    config = {
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "binary",
                "labels": {"path": "l.csv", "label": "y"},
                "modalities": {"scan": {"type": "mri", "path": "x"}},
            }
        }
    }
    with pytest.raises(ConfigError) as info:
        check_config(config)
    assert "datasets.mine.modalities.scan.type" in str(info.value)
    assert "'tabular'" in str(info.value)


def test_unknown_top_level_key_is_rejected(demo):
    message = _broken(demo, lambda c: c.update(epochs=3))
    assert "epochs" in message and "allowed keys" in message


def test_generic_survival_needs_time_and_event():
    config = {
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "survival",
                "labels": {"path": "l.csv", "time": "t"},
                "modalities": {"tab": {"type": "tabular", "path": "x.csv"}},
            }
        }
    }
    with pytest.raises(ConfigError, match=r"datasets\.mine\.labels\.event"):
        check_config(config)


def test_modalities_and_runs_follow_the_dataset_kind(demo):
    config = fill_defaults(copy.deepcopy(demo))
    tcga = config["datasets"]["tcga"]
    assert [m.name for m in dataset_modalities(tcga)] == ["slides", "mut", "cnv", "rna"]
    joint = {**tcga, "omics_as": "joint"}
    assert [(m.name, m.kind) for m in dataset_modalities(joint)] == [
        ("slides", "bag"),
        ("omics", "vector"),
    ]
    icd9 = dataset_modalities(config["datasets"]["icd9"])
    runs = dataset_runs(icd9, ["lego_block", "snn", "abmil", "lego_merge"])
    assert runs == [
        "lego_block.static",
        "lego_block.vitals",
        "snn.static",
        "abmil.vitals",
        "lego_merge",
    ]


def test_a_moved_key_names_its_new_place(demo):
    config = copy.deepcopy(demo)
    config["train"]["fuse_epochs"] = 3
    with pytest.raises(ConfigError) as info:
        check_config(config)
    assert "config key 'train.fuse_epochs' has moved to 'fuse.epochs'" in str(info.value)
