"""The model catalogue: what every layer reads about a model comes from its one entry."""

from __future__ import annotations

import copy

import pytest

from mmlego.config import ConfigError, check_config, fill_defaults, load_schema, load_yaml
from mmlego.data.kinds import Modality
from mmlego.evaluate.tables import DatasetInfo, run_row, section_order
from mmlego.models.catalogue import (
    CATALOGUE,
    dataset_runs,
    get_builder,
    job_config,
    model_keys,
    model_misfit,
    run_label,
)

TWO_TABLES = {"a": "tabular", "b": "tabular"}
SLIDES_AND_TABLE = {"slides": "wsi", "omics": "tabular"}


@pytest.fixture
def demo(repo):
    return fill_defaults(load_yaml(repo / "config" / "config.yaml"))


def test_the_schema_allows_exactly_the_catalogues_models():
    schema = load_schema()
    assert schema["properties"]["models"]["items"]["enum"] == list(CATALOGUE)
    members = schema["properties"]["baselines"]["properties"]["ensemble"]["properties"]["members"]
    allowed = set(members["items"]["enum"])  # the per-modality trained models
    assert {"snn", "abmil", "perceiver", "lego_block"} <= allowed
    assert not allowed & {"ensemble", "late_concat", "lego_merge", "healnet"}


def test_an_unknown_model_is_refused_with_the_catalogues_keys(repo):
    config = load_yaml(repo / "config" / "config.yaml")
    config["models"] = ["lego_block", "gpt"]
    with pytest.raises(
        ConfigError, match=r"'gpt' is not allowed; choose one of: 'snn', .*'lego_fuse'"
    ):
        check_config(config)


@pytest.mark.parametrize(
    ("run", "modalities", "row"),
    [
        ("late_concat", SLIDES_AND_TABLE, ("Multimodal", "SNN+ABMIL concat (late)")),
        ("late_concat", TWO_TABLES, ("Multimodal", "SNN+SNN concat (late)")),
        (
            "late_bilinear",
            {"s": "wsi", "i": "image"},
            ("Multimodal", "ABMIL+ABMIL bilinear (late)"),
        ),
        ("snn.omics", SLIDES_AND_TABLE, ("Unimodal (tab)", "SNN (tab)")),
        ("perceiver.slides", SLIDES_AND_TABLE, ("Unimodal (img/ts)", "Perceiver (img/ts)")),
        ("lego_merge", TWO_TABLES, ("Multimodal", "LegoMerge")),
    ],
)
def test_row_labels_name_the_modalities_a_run_takes(run, modalities, row):
    assert run_row(run, DatasetInfo("d", "binary", 10, modalities)) == row


def test_the_sections_keep_the_papers_order_then_the_classical_references():
    assert section_order() == ["Unimodal (tab)", "Unimodal (img/ts)", "Multimodal", "Classical"]


def test_figure_labels_name_the_modality_of_a_unimodal_run():
    assert run_label("lego_block.vitals") == "LegoBlock (vitals)"
    assert run_label("late_concat", ["tabular", "timeseries"]) == "SNN+ABMIL concat (late)"


def test_a_jobs_config_holds_only_its_models_keys(demo):
    assert job_config(demo, "snn") == {
        "train": demo["train"],
        "baselines": {"dim": 64, "dropout": 0.1},
    }
    assert job_config(demo, "late_bilinear")["baselines"]["late"] == {"bilinear_dim": 16}
    assert job_config(demo, "lego_block") == {"train": demo["train"], "lego": demo["lego"]}
    merge_keys = {k: v for k, v in demo["merge"].items() if k != "adaptive"}
    assert job_config(demo, "lego_merge") == {"merge": merge_keys}
    assert job_config(demo, "lego_merge_adaptive") == {"merge": demo["merge"]}
    assert job_config(demo, "lego_fuse") == {
        "fuse": demo["fuse"],
        "merge": {"head": demo["merge"]["head"]},
        "train": demo["train"],
    }
    edited = copy.deepcopy(demo)
    edited["baselines"]["mcat"]["groups"] = 7
    changed = [m for m in model_keys() if job_config(edited, m) != job_config(demo, m)]
    assert changed == ["mcat"]
    edited = copy.deepcopy(demo)
    edited["merge"]["adaptive"]["step"] = 0.25
    changed = [m for m in model_keys() if job_config(edited, m) != job_config(demo, m)]
    assert changed == ["lego_merge_adaptive", "damc"]


def test_every_entry_is_complete():
    for key, entry in CATALOGUE.items():
        assert entry.made_by in ("train", "blocks", "predictions", "classical"), key
        if entry.made_by == "predictions":
            assert entry.builder is None and entry.step and entry.members
        else:
            assert callable(get_builder(key)), key
        if entry.made_by != "train":
            assert entry.step, key
    with pytest.raises(KeyError, match="no network to build"):
        get_builder("ensemble")
    with pytest.raises(KeyError, match=r"unknown model 'gpt'; known models: snn, .*lego_fuse"):
        get_builder("gpt")


def test_modality_order_decides_nothing_in_a_label():
    entry = CATALOGUE["late_concat"]
    assert entry.row_label(["wsi", "tabular"]) == entry.row_label(["tabular", "wsi"])
    assert Modality("x", "image").kind == "bag"


ONE_TABLE = [Modality("clinical", "tabular")]
TABLE_AND_LABS = [Modality("clinical", "tabular"), Modality("labs", "timeseries")]
CLASSICAL = ["coxnet", "logistic", "gbm"]


@pytest.mark.parametrize(
    ("task", "runs"),
    [
        ("survival", ["coxnet", "gbm"]),
        ("binary", ["logistic", "gbm"]),
        ("multiclass", ["logistic", "gbm"]),
    ],
)
def test_a_classical_model_of_another_task_is_skipped(task, runs):
    assert dataset_runs(TABLE_AND_LABS, CLASSICAL, task) == runs
    # One table is enough for a classical model (nothing to fuse), not for LegoMerge.
    assert dataset_runs(ONE_TABLE, [*CLASSICAL, "lego_merge"], task) == runs


def test_the_task_misfit_names_the_tasks_the_model_fits():
    assert model_misfit("coxnet", TABLE_AND_LABS, "binary") == (
        "coxnet fits survival tasks, not binary"
    )
    assert model_misfit("logistic", ONE_TABLE, "survival") == (
        "logistic fits binary or multiclass tasks, not survival"
    )
    assert model_misfit("coxnet", TABLE_AND_LABS) is None  # no task given: modalities only


def _study(tasks: dict[str, str], models: list[str]) -> dict:
    table = {"type": "tabular", "path": "t.csv"}
    return {
        "models": models,
        "datasets": {
            name: {
                "kind": "generic",
                "task": task,
                "labels": {
                    "path": "l.csv",
                    **({"time": "t", "event": "e"} if task == "survival" else {"label": "y"}),
                },
                "modalities": {"clinical": table},
            }
            for name, task in tasks.items()
        },
    }


def test_a_classical_model_must_fit_one_dataset_of_the_study():
    check_config(_study({"os": "survival", "flags": "binary"}, CLASSICAL))
    with pytest.raises(
        ConfigError, match=r"'coxnet' applies to no dataset .*'flags': coxnet fits survival"
    ):
        check_config(_study({"flags": "binary"}, ["coxnet", "logistic"]))


def test_classical_rows_and_config_keys(demo):
    info = DatasetInfo("d", "survival", 10, {"clinical": "tabular", "labs": "timeseries"})
    assert run_row("coxnet", info) == ("Classical", "Cox (elastic net)")
    assert run_row("gbm", info) == ("Classical", "Gradient boosting")
    assert job_config(demo, "coxnet") == {
        "classical": {"select_on": "loss", "coxnet": demo["classical"]["coxnet"]}
    }
    edited = copy.deepcopy(demo)
    edited["classical"]["gbm"]["max_depth"] = [4]
    changed = [m for m in model_keys() if job_config(edited, m) != job_config(demo, m)]
    assert changed == ["gbm"]
    edited["classical"]["select_on"] = "metric"
    changed = [m for m in model_keys() if job_config(edited, m) != job_config(demo, m)]
    assert changed == CLASSICAL
