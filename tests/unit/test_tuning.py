"""Tuning on validation with Optuna: the space, the settings, pruning, the tuned run's outputs,
the LegoBlocks' shared latent shape, and ``trials: 0`` leaving training untouched."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from mmlego.config import SCHEMA_PATH, fill_defaults
from mmlego.models.catalogue import job_config, parse_run
from mmlego.predictions import read_predictions
from mmlego.train.combine import merge_run
from mmlego.train.monitor import replay
from mmlego.train.outputs import load_model, read_checkpoint
from mmlego.train.run import fit_run, train_run
from mmlego.train.tuning import (
    TuneSettings,
    run_tune_settings,
    shared_job,
    shares_latent_shape,
    train_or_tune,
    tune_problems,
    tune_run,
    tuned_job_config,
)
from mmlego.train.tuning.record import read_chosen
from mmlego.train.tuning.space import applicable, apply_params, parse_space
from mmlego.train.tuning.study import TrialProgress, config_start, epoch_score, run_study
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split

DATASET = {"d": {"kind": "tcga", "task": "survival", "slides": "s", "table": "t"}}
TRAINED = ("lego_block", "snn", "abmil", "healnet")
CFG = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 3, "patience": 3}}
LR = {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}


def _settings(space, *, trials=3, shared=(), shared_trials=2, **extra):
    section = {"trials": trials, "space": space, "shared": {"keys": list(shared),
               "trials": shared_trials}, "startup_trials": 1, "warmup_epochs": 1, **extra}  # fmt: skip
    return TuneSettings.from_config(section)


def _config(**tune):
    return fill_defaults({"datasets": DATASET, "tune": tune})


def test_apply_params_sets_dotted_keys_on_a_copy_and_rejects_unknown_keys():
    cfg = {"train": {"lr": 1e-4}, "baselines": {"dim": 64, "perceiver": {"depth": 2}}}
    out = apply_params(cfg, {"train.lr": 0.01, "baselines.perceiver.depth": 3})
    assert out == {"train": {"lr": 0.01}, "baselines": {"dim": 64, "perceiver": {"depth": 3}}}
    assert cfg["train"]["lr"] == 1e-4 and cfg["baselines"]["perceiver"]["depth"] == 2
    with pytest.raises(KeyError, match=r"train\.lrr"):
        apply_params(cfg, {"train.lrr": 0.01})
    space = parse_space({"train.lr": LR, "lego.depth": {"type": "int", "low": 1, "high": 3}})
    assert list(applicable(space, cfg)) == ["train.lr"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log-scale range needs low > 0"),
        ({"type": "int", "low": 3, "high": 1}, "needs 'low' <= 'high'"),
        ({"type": "categorical", "choices": []}, "non-empty 'choices'"),
    ],
)
def test_a_bad_space_entry_is_named_in_the_error(entry, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_space({"train.lr": entry})
    assert "tune.space.train.lr" in str(err.value)


def test_run_settings_per_model_and_none_when_untuned():
    config = _config()
    assert config["tune"]["trials"] == 0
    assert (
        run_tune_settings(config["tune"], "snn", job_config(config, parse_run("snn.omics")[0]))
        is None
    )
    config = _config(trials=4, models={"healnet": {"trials": 0}, "snn": {"trials": 2, "space": {
        "baselines.dim": None, "train.lr": LR}}})  # fmt: skip
    snn = run_tune_settings(config["tune"], "snn", job_config(config, parse_run("snn.omics")[0]))
    assert snn["trials"] == 2 and "shared" not in snn
    assert snn["space"] == {
        "train.lr": LR,
        "train.weight_decay": config["tune"]["space"]["train.weight_decay"],
        "train.batch_size": config["tune"]["space"]["train.batch_size"],
        "baselines.dropout": config["tune"]["space"]["baselines.dropout"],
    }
    assert (
        run_tune_settings(config["tune"], "healnet", job_config(config, parse_run("healnet")[0]))
        is None
    )
    block = run_tune_settings(
        config["tune"], "lego_block", job_config(config, parse_run("lego_block.rna")[0])
    )
    assert block["trials"] == 4 and not any(k.startswith("baselines.") for k in block["space"])
    assert block["shared"] == {"keys": ["lego.latent_len", "lego.latent_dim"], "trials": 4}


def test_the_default_space_holds_every_default_value_so_trial_zero_is_the_untuned_run():
    config = _config(trials=1)
    for run, model in (("lego_block.rna", "lego_block"), ("snn.omics", "snn")):
        cfg = job_config(config, parse_run(run)[0])
        settings = run_tune_settings(config["tune"], model, cfg)
        space = parse_space(settings["space"])
        assert config_start(space, cfg).keys() == space.keys(), run


def test_the_workflow_validation_fills_the_tune_section_and_keeps_a_removed_key_null():
    from snakemake.utils import validate

    config = {"datasets": DATASET, "tune": {"trials": 2, "models": {"snn": {"space": {
        "baselines.dim": None, "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2}}}}}}  # fmt: skip
    validate(config, str(SCHEMA_PATH))
    assert config["tune"]["models"]["snn"]["space"] == {
        "baselines.dim": None,
        "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": False, "step": None},
    }
    assert config["tune"]["shared"] == {
        "keys": ["lego.latent_len", "lego.latent_dim"],
        "trials": None,
    }
    assert (
        "baselines.dim"
        not in run_tune_settings(config["tune"], "snn", {"baselines": {"dim": 64}})["space"]
    )


def test_tune_problems_name_each_bad_key():
    assert tune_problems(_config(trials=2), TRAINED) == []
    config = _config(
        space={
            "train.lrr": LR,
            "merge.eps": LR,
            "lego.depth": {"type": "int", "low": 4, "high": 1},
        },
        shared={"keys": ["train.lr"]},
        models={"lego_merge": {"trials": 1}},
    )
    problems = tune_problems(config, TRAINED)
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    for key in (
        "'tune.models.lego_merge'",
        "'tune.space.train.lrr'",
        "'tune.space.merge.eps'",
        "'tune.space.lego.depth'",
        "'tune.shared.keys'",
    ):
        assert key in text


def test_epoch_score_is_the_metric_or_minus_the_val_loss():
    assert epoch_score({"val_metric": 0.7, "val_loss": 1.2}) == 0.7
    assert epoch_score({"val_metric": math.nan, "val_loss": 1.2}) == -1.2


def test_a_trial_below_the_median_of_earlier_complete_trials_is_pruned_after_warmup():
    """Each trial's epoch score is its parameter x, so the pruning rule is checkable by hand."""
    space = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    settings = _settings({}, startup_trials=1, warmup_epochs=1)

    def fit_trial(cfg, progress: TrialProgress):
        on_epoch_end = progress.epoch_callback("toy", report=True)
        for epoch in range(1, 5):
            on_epoch_end(epoch, None, {"val_metric": cfg["x"], "val_loss": 0.0})
        return cfg["x"], cfg["x"]

    outcome = run_study(
        fit_trial, space=space, cfg={"x": 0.5}, settings=settings, trials=8,
        sampler_seed=0, warmup_steps=1, name="toy",
    )  # fmt: skip
    assert outcome.trials[0].params == {"x": 0.5}  # trial 0: the config's value
    complete: list[float] = []
    for trial in outcome.trials:
        x = trial.params["x"]
        median = pd.Series(complete).median()
        should_prune = len(complete) >= 1 and x < median
        assert trial.state == ("PRUNED" if should_prune else "COMPLETE"), (x, complete)
        # Warmup epoch 1 is never pruned; a pruned trial stops at epoch 2.
        assert trial.epochs == {"toy": 2 if should_prune else 4}
        if not should_prune:
            complete.append(x)
    assert any(t.state == "PRUNED" for t in outcome.trials)
    best = max(complete)
    assert outcome.chosen.value == best and outcome.kept == best


def test_a_failing_trial_stops_the_study_naming_its_parameters():
    space = parse_space({"train.lr": LR})

    def fit_trial(cfg, progress):
        raise ValueError("loss is NaN")

    with pytest.raises(RuntimeError, match=r"toy: trial 0 with \{'train.lr': 0.005\} failed"):
        run_study(
            fit_trial, space=space, cfg={"train": {"lr": 0.005}}, settings=_settings({}),
            trials=2, sampler_seed=0, warmup_steps=0, name="toy",
        )  # fmt: skip


def test_a_trial_with_a_non_finite_score_fails_and_the_study_goes_on():
    space = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})

    def fit_trial(cfg, progress):
        return (-math.inf if cfg["x"] == 0.5 else cfg["x"]), cfg["x"]

    outcome = run_study(
        fit_trial, space=space, cfg={"x": 0.5}, settings=_settings({}), trials=3,
        sampler_seed=0, warmup_steps=0, name="toy",
    )  # fmt: skip
    states = [(t.state, t.value) for t in outcome.trials]
    assert states[0] == ("FAIL", None) and len(states) == 3
    assert all(state == "COMPLETE" for state, _ in states[1:])
    assert outcome.chosen.number in (1, 2) and outcome.kept == outcome.chosen.value


def test_the_chosen_trial_model_is_what_retraining_with_its_params_gives_and_repeats():
    data = make_split("binary", n=40, kinds=("vector",))
    settings = _settings({"train.lr": LR, "lego.dropout": {"type": "float", "low": 0.0,
                          "high": 0.3}}, trials=3)  # fmt: skip
    tuned = tune_run(data, run="lego_block.tab", split=0, cfg=CFG, settings=settings, seed=7)
    trials = tuned.summary["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert trials[0]["params"] == {"train.lr": CFG["train"]["lr"], "lego.dropout": 0.0}
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    chosen = tuned.summary["chosen"]
    assert chosen["value"] == max(t["value"] for t in complete)
    assert chosen["params"] == trials[chosen["trial"]]["params"]
    # The running best the pruner saw ends at the loop's own selection score.
    for t in complete:
        assert t["scores"]["lego_block.tab"] == t["value"]
        assert t["monitors"] == {"lego_block.tab": "auc"}
    assert tuned.result.best_score == chosen["value"]
    assert tuned.cfg == apply_params(CFG, chosen["params"])
    model, result, _ = fit_run(data, run="lego_block.tab", split=0, cfg=tuned.cfg, seed=7)
    kept = tuned.model.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in model.state_dict().items())
    columns = ["train_loss", "val_loss", "val_metric"]
    assert result.log[columns].equals(tuned.result.log[columns])
    again = tune_run(data, run="lego_block.tab", split=0, cfg=CFG, settings=settings, seed=7)
    assert again.summary == tuned.summary
    reseeded = tune_run(
        data, run="lego_block.tab", split=0, cfg=CFG, seed=7,
        settings=_settings(settings_space(settings), trials=3, seed=1),
    )  # fmt: skip
    assert reseeded.summary["trials"][1]["params"] != trials[1]["params"]


def settings_space(settings: TuneSettings) -> dict:
    return {key: param.describe() for key, param in settings.space.items()}


@pytest.mark.parametrize(
    ("run", "key", "width"),
    [
        ("lego_block.tab", "lego.encoder_dim", lambda m: m.encoder.out_dim),
        ("snn.tab", "baselines.dim", lambda m: m.head.in_features),
    ],
)
def test_a_tuned_run_writes_its_trials_and_the_chosen_params_into_its_provenance(
    tmp_path, run, key, width
):
    data = make_split("survival", n=40, kinds=("vector",))
    # The default width (8) is not a choice, so the checkpoint must carry the tuned one.
    space = {key: {"type": "categorical", "choices": [4, 12]}, "train.lr": LR}
    cfg = {**CFG, "baselines": {"dim": 8, "dropout": 0.1}, "tune": {"trials": 2, "space": space,
           "startup_trials": 1}}  # fmt: skip
    train_or_tune(
        data, run=run, dataset="toy", split=0, cfg=cfg, out_dir=tmp_path,
        provenance={"seed": 3}, seed=3,
    )  # fmt: skip
    summary = json.loads((tmp_path / "tuning.json").read_text())
    assert summary["stage"] == "run" and summary["runs"] == [run]
    assert summary["objective"] == {"direction": "maximize", "set": "val",
                                    "monitor": {run: "c_index"}, "name": "select_on"}  # fmt: skip
    assert len(summary["trials"]) == 2 and summary["provenance"] == {"seed": 3}
    chosen = summary["chosen"]
    payload = read_checkpoint(tmp_path / "model.pt")
    assert payload["hparams"]["tuned"] == chosen["params"]
    assert payload["hparams"]["tune"] == cfg["tune"]
    value = chosen["params"][key]
    section, leaf = key.split(".")
    assert payload["hparams"][section][leaf] == value in (4, 12)
    assert width(load_model(tmp_path / "model.pt")) == value
    meta = read_predictions(tmp_path / "predictions.parquet").meta
    assert meta["provenance"] == {"seed": 3, "tuning": chosen}


def test_trials_zero_gives_todays_outputs_bit_for_bit(tmp_path):
    config = _config(trials=0)
    data = make_split("binary", n=40, kinds=("vector",))
    cfg = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 2}}
    settings = run_tune_settings(config["tune"], "lego_block", cfg)
    assert settings is None  # so the job's params, and the checkpoint's hparams, gain nothing
    for name, entry in (("today", train_run), ("tune0", train_or_tune)):
        entry(
            data, run="lego_block.tab", dataset="toy", split=0, cfg=cfg, out_dir=tmp_path / name,
            provenance={"seed": 3}, seed=3,
        )  # fmt: skip
    parquet = [
        (tmp_path / name / "predictions.parquet").read_bytes() for name in ("today", "tune0")
    ]
    assert parquet[0] == parquet[1]
    # torch.save names the archive after the (random) temporary file: compare the contents.
    today, tune0 = (read_checkpoint(tmp_path / name / "model.pt") for name in ("today", "tune0"))
    assert today.keys() == tune0.keys()
    assert all(today[k] == tune0[k] for k in today if k != "state_dict")
    state = today["state_dict"]
    assert state.keys() == tune0["state_dict"].keys()
    assert all(torch.equal(v, tune0["state_dict"][k]) for k, v in state.items())
    logs = [pd.read_csv(tmp_path / name / "train_log.csv") for name in ("today", "tune0")]
    assert logs[0].drop(columns="seconds").equals(logs[1].drop(columns="seconds"))
    assert not (tmp_path / "tune0" / "tuning.json").exists()


def test_a_block_with_shared_keys_needs_the_shared_stage():
    data = make_split("binary", n=20, kinds=("vector",))
    settings = _settings({"lego.latent_dim": {"type": "categorical", "choices": [4, 12]}},
                         shared=["lego.latent_dim"])  # fmt: skip
    with pytest.raises(ValueError, match="shared stage's chosen params"):
        tune_run(data, run="lego_block.tab", split=0, cfg=CFG, settings=settings, seed=0)


def test_tuned_blocks_of_a_split_share_one_latent_shape_and_merge(tmp_path):
    data = make_split("survival", n=40)
    # Neither default (4 x 8) is a choice: the shared shape must come from the shared stage.
    space = {
        "lego.latent_len": {"type": "categorical", "choices": [2, 6]},
        "lego.latent_dim": {"type": "categorical", "choices": [4, 12]},
        "train.lr": LR,
    }
    tune = {"trials": 2, "space": space, "startup_trials": 1, "warmup_epochs": 1,
            "shared": {"keys": ["lego.latent_len", "lego.latent_dim"], "trials": 3}}  # fmt: skip
    cfg = {**CFG, "tune": tune}
    runs = ["lego_block.tab", "lego_block.img"]
    shared = shared_job(
        data, runs=runs, dataset="toy", split=0, cfg=cfg, out=tmp_path / "shared.json",
        master_seed=0, provenance={},
    )  # fmt: skip
    assert shared["stage"] == "shared" and len(shared["trials"]) == 3
    assert all(set(t["params"]) == {"lego.latent_len", "lego.latent_dim"} for t in shared["trials"])
    for trial in shared["trials"]:
        if trial["state"] == "COMPLETE":
            assert set(trial["epochs"]) == set(runs)
            assert trial["value"] == pytest.approx(sum(trial["scores"].values()) / 2)
    shape = read_chosen(tmp_path / "shared.json")
    assert shape == shared["chosen"]["params"]
    paths = {}
    for run in runs:
        out = tmp_path / run
        train_or_tune(
            data, run=run, dataset="toy", split=0, cfg=cfg, out_dir=out, provenance={},
            shared_tuning=tmp_path / "shared.json",
        )  # fmt: skip
        summary = json.loads((out / "tuning.json").read_text())
        assert summary["fixed"] == shape
        assert all(set(t["params"]) == {"train.lr"} for t in summary["trials"])
        assert summary["chosen"]["params"].items() >= shape.items()
        paths[run.split(".")[1]] = out / "model.pt"
    latents = {m: tuple(load_model(p).latent.shape) for m, p in paths.items()}
    assert set(latents.values()) == {(shape["lego.latent_len"], shape["lego.latent_dim"])}
    merge_run(
        data, block_paths=paths, cfg={"merge": {}}, dataset="toy", split=0,
        out_dir=tmp_path / "merge", provenance={},
    )  # fmt: skip
    frame = read_predictions(tmp_path / "merge" / "predictions.parquet").frame
    assert len(frame) == len(data.sets["val"]) + len(data.sets["test"])
    assert frame["risk"].notna().all()


def test_with_select_on_loss_the_objective_is_minus_the_kept_epochs_val_loss():
    data = make_split("binary", n=40, kinds=("vector",))
    cfg = {**CFG, "train": {**CFG["train"], "select_on": "loss", "min_epochs": 2}}
    tuned = tune_run(
        data, run="lego_block.tab", split=0, cfg=cfg, settings=_settings({"train.lr": LR},
        trials=2), seed=7,
    )  # fmt: skip
    for trial in tuned.summary["trials"]:
        assert trial["monitors"] == {"lego_block.tab": "val_loss"}
        assert trial["scores"]["lego_block.tab"] == trial["value"]
    losses = tuned.result.log.set_index("epoch")["val_loss"]
    assert tuned.summary["chosen"]["value"] == -losses.loc[2:].min()
    assert tuned.result.best_epoch >= 2


def test_a_train_jobs_config_gains_tune_only_when_tuned():
    untuned = _config(trials=0)
    for model in TRAINED:
        assert tuned_job_config(untuned, model) == job_config(untuned, model)
        assert not shares_latent_shape(untuned, model)
    config = _config(trials=3, timeout_s=60, models={"snn": {"timeout_s": 5}})
    block = tuned_job_config(config, "lego_block")
    assert block == {**job_config(config, "lego_block"), "tune": block["tune"]}
    assert block["tune"]["trials"] == 3 and block["tune"]["timeout_s"] == 60
    assert tuned_job_config(config, "snn")["tune"]["timeout_s"] == 5
    assert shares_latent_shape(config, "lego_block") and not shares_latent_shape(config, "snn")
    no_shared = _config(trials=3, shared={"keys": []})
    assert not shares_latent_shape(no_shared, "lego_block")


def test_the_config_check_names_a_bad_tune_key():
    from mmlego.config import ConfigError, check_config

    config = {"datasets": DATASET, "tune": {"trials": 2, "models": {"lego_merge": {"trials": 1}}}}
    with pytest.raises(
        ConfigError, match=r"'tune\.models\.lego_merge': 'lego_merge' is not a trained"
    ):
        check_config(config)


@pytest.mark.parametrize(("select_on", "objective"), [("metric", "loss"), ("loss", "metric")])
def test_the_objective_scores_the_kept_epoch_on_its_own_measure(select_on, objective):
    """tune.objective changes what a trial is scored by, not which epoch the loop keeps."""
    data = make_split("binary", n=40, kinds=("vector",))
    cfg = {**CFG, "train": {**CFG["train"], "select_on": select_on}}
    settings = _settings({"train.lr": LR}, trials=2, objective=objective)
    tuned = tune_run(data, run="lego_block.tab", split=0, cfg=cfg, settings=settings, seed=7)
    log = tuned.result.log.set_index("epoch")
    # The loop kept its own best epoch: by the metric, or by the loss.
    kept, _ = replay(tuned.result.log, use_metric=select_on == "metric", patience=3)
    assert tuned.result.best_epoch == kept
    expected = -log.loc[kept, "val_loss"] if objective == "loss" else log.loc[kept, "val_metric"]
    assert tuned.summary["chosen"]["value"] == pytest.approx(float(expected), abs=0, rel=0)
    monitor = "val_loss" if objective == "loss" else "auc"
    assert all(t["monitors"] == {"lego_block.tab": monitor} for t in tuned.summary["trials"])
    assert tuned.summary["objective"]["name"] == objective


def _margin_study(margin):
    space = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    settings = _settings({}, pruner="none", margin=margin)
    return run_study(
        lambda cfg, progress: (cfg["x"], f"model {cfg['x']}"), space=space, cfg={"x": 0.5},
        settings=settings, trials=6, sampler_seed=0, warmup_steps=0, name="toy",
    )  # fmt: skip


def test_a_margin_keeps_the_config_values_unless_a_trial_beats_them_by_more():
    plain = _margin_study(0.0)
    values = [t.value for t in plain.trials]
    assert values[0] == 0.5 and max(values) > 0.5  # trial 0 is the config's value
    gain = max(values) - 0.5
    assert plain.chosen.value == max(values) and plain.best is plain.chosen
    # A margin at the gain keeps trial 0 and its fit; the trials themselves do not change.
    held = _margin_study(gain)
    assert [t.value for t in held.trials] == values
    assert held.chosen.number == 0 and held.kept == "model 0.5"
    assert held.best.number == plain.chosen.number
    # Just under the gain, the best trial wins.
    beaten = _margin_study(gain * 0.99)
    assert beaten.chosen.number == plain.chosen.number and beaten.kept == plain.kept


def test_objective_and_margin_are_checked_and_passed_on_only_when_set():
    with pytest.raises(ValueError, match=r"'tune\.objective': 'auc' is not one of loss, metric"):
        TuneSettings.from_config({"trials": 1, "objective": "auc"})
    with pytest.raises(ValueError, match=r"'tune\.margin'"):
        TuneSettings.from_config({"trials": 1, "margin": -0.1})
    cfg = job_config(_config(trials=2), "lego_block")
    plain = run_tune_settings(_config(trials=2)["tune"], "lego_block", cfg)
    assert "objective" not in plain and "margin" not in plain  # a tuned job's params as before
    section = _config(trials=2, objective="loss", margin=0.02)["tune"]
    settings = TuneSettings.from_config(run_tune_settings(section, "lego_block", cfg))
    assert (settings.objective, settings.margin) == ("loss", 0.02)
