"""Real cohorts: the Lego models at their defaults and tuned on validation, against coxnet.

Issue 17 asks for a table of each model on two cohorts a package ships, run through
``kind: generic``: defaults, and tuned with ``tune.trials``, against ``coxnet``. The cohorts are
scikit-survival's GBSG2 and WHAS500, each split into two tabular modalities
(``scripts/export_cohort.py``). One study holds both cohorts; it runs twice, with the same
seed, splits and transforms: ``defaults`` (``tune.trials: 0``) and ``tuned``
(``tune.trials: N``; Optuna on each split's validation patients, the test set never read).
Both use the README's GBSG2 example settings (20 epochs, patience 5, the demo's lego sizes,
2 fusion epochs, 5 holdout splits of 70/15/15). coxnet is the same in both (its penalty is
chosen on validation from its grid, not by Optuna), which the report checks.

The report gives, per cohort and model, the mean ± std test c-index (Harrell's) over the
splits for both settings, and each Lego model's paired difference from coxnet per split
(mean ± standard error). The goal of the issue: tuned LegoMerge or LegoFuse within 0.02 of
coxnet (difference ≥ -0.02) on each cohort.

    python benchmarks/real_cohorts.py --out results/real_cohorts --trials 30 --cores 2

``--setting defaults`` or ``--setting tuned`` runs one study only; ``--report-only`` remakes
the report from finished studies. Wall time per study is logged in the report.

Options for small cohorts (issue 17): ``--objective loss`` scores trials by the validation
loss, ``--margin M`` keeps the defaults unless a trial beats them by more than M,
``--space small`` tunes only ``train.lr``, ``train.weight_decay`` and ``lego.dropout``, and
``--name NAME`` puts the tuned study under ``out/NAME`` (several variants side by side, each
against the same ``defaults`` study)::

    python benchmarks/real_cohorts.py --trials 30 --fixed-latent --objective loss --margin 0.01 \
        --space small --name tuned_loss --setting tuned
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from cohort_studies import COHORTS, export_cohort, run_study, runs_of
from summary import write_report

from mmlego import layout
from mmlego.utils.atomic import write_json_atomic

MODELS = ["lego_block", "lego_merge", "lego_fuse", "coxnet"]
SETTINGS = ("defaults", "tuned")
METRIC = "c_index"
GOAL = -0.02  # tuned LegoMerge or LegoFuse at least coxnet - 0.02


# The LegoBlocks' latent shape (tuned once per split for both blocks, the shared stage).
LATENT_KEYS = ("lego.latent_len", "lego.latent_dim")
# The keys --space small leaves out of the LegoBlocks' space: the architecture and batch size,
# which give each block its own shape of model (and so LegoMerge blocks tuned apart).
NOT_SMALL = ("train.batch_size", "lego.depth", "lego.encoder_dim")


def study(
    out: Path,
    setting: str,
    trials: int,
    fixed_latent: bool = False,
    tune: dict | None = None,
    space: str = "default",
    name: str | None = None,
) -> dict:
    """The config of one setting's study of both cohorts (raw files under ``out/raw``).

    ``fixed_latent``: the tuned study keeps the latent shape at its config value (no shared
    stage, which costs as many fits as tuning the blocks themselves), tuning the rest of the
    default space. ``tune``: further ``tune`` keys of the tuned study (``objective``,
    ``margin``); ``space`` ``small`` also removes :data:`NOT_SMALL`; ``name``: the tuned
    study's folder under ``out`` (default ``tuned``).
    """
    folder = name if setting == "tuned" and name else setting
    base = export_cohort.study_config(out / "raw" / COHORTS[0], out / folder, 20, 5)
    datasets = {c: export_cohort.dataset_config(c, out / "raw" / c) for c in COHORTS}
    config = {**base, "datasets": datasets, "models": MODELS}
    config["tune"] = {"trials": trials if setting == "tuned" else 0}
    if setting != "tuned":
        return config
    config["tune"].update(tune or {})
    removed = (LATENT_KEYS if fixed_latent else ()) + (NOT_SMALL if space == "small" else ())
    if removed:
        # null removes a key from lego_block's space
        config["tune"]["models"] = {"lego_block": {"space": dict.fromkeys(removed)}}
    if fixed_latent:
        config["tune"]["shared"] = {"keys": []}
    return config


def targets(config: dict) -> list[str]:
    """Every run's metrics.json of every split (and the tuning table when tuned)."""
    files = [
        layout.metrics(layout.run_dir(layout.dataset_dir(config["output_dir"], ds), run, k))
        for ds, runs in runs_of(config).items()
        for run in runs
        for k in range(config["splits"]["repeats"])
    ]
    if config["tune"]["trials"] > 0:
        files.append(layout.table(config["output_dir"], "tuning.md"))
    return files


def scores(config: dict, setting: str) -> pd.DataFrame:
    """One row per (cohort, run, split): the test and val c-index of the study's runs."""
    rows = []
    for ds, runs in runs_of(config).items():
        root = layout.dataset_dir(config["output_dir"], ds)
        for run in runs:
            for k in range(config["splits"]["repeats"]):
                payload = json.loads(Path(layout.metrics(layout.run_dir(root, run, k))).read_text())
                rows.append(
                    {
                        "cohort": ds,
                        "setting": setting,
                        "run": run,
                        "split": k,
                        "test": payload["test"][METRIC],
                        "val": payload["val"][METRIC],
                    }
                )
    return pd.DataFrame(rows)


def select(frame: pd.DataFrame, cohort: str, setting: str, run: str) -> pd.DataFrame:
    """The rows of one run of one cohort in one setting, one per split."""
    rows = (frame["cohort"] == cohort) & (frame["setting"] == setting) & (frame["run"] == run)
    return frame[rows]


def paired(frame: pd.DataFrame, cohort: str, setting: str, run: str) -> tuple[float, float]:
    """Mean and standard error over splits of ``run``'s test c-index minus coxnet's."""
    own = select(frame, cohort, setting, run)
    cox = select(frame, cohort, "defaults", "coxnet")
    diff = own.set_index("split")["test"] - cox.set_index("split")["test"]
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def markdown(
    frame: pd.DataFrame, seconds: dict[str, float], trials: int, fixed_latent: bool
) -> str:
    """The report: one table per cohort, then the goal's verdict and the wall times."""
    space = "the default space"
    if fixed_latent:
        space += " without the latent shape (`lego.latent_len`, `lego.latent_dim` kept at 16, 32)"
    lines = [
        "# Real cohorts: defaults and tuned against coxnet",
        "",
        f"Test c-index (Harrell's), mean ± std over {frame['split'].nunique()} splits; "
        f"tuned = `tune.trials: {trials}` over {space}. Δ coxnet: the paired per-split "
        "difference from coxnet, mean ± standard error. *val*: the mean validation c-index "
        "(what the tuning and coxnet's grid maximise), defaults → tuned.",
    ]
    verdicts = []
    for cohort in COHORTS:
        lines += ["", f"## {cohort}", ""]
        lines += ["| model | defaults | tuned | Δ coxnet, defaults | Δ coxnet, tuned | val |"]
        lines += ["| --- | --- | --- | --- | --- | --- |"]
        for run in frame.loc[frame["cohort"] == cohort, "run"].unique():
            cells = [f"`{run}`"]
            for setting in SETTINGS:
                test = select(frame, cohort, setting, run)
                cells.append(f"{test['test'].mean():.3f} ± {test['test'].std(ddof=1):.3f}")
            for setting in SETTINGS:
                if run == "coxnet":
                    cells.append("")
                    continue
                mean, err = paired(frame, cohort, setting, run)
                cells.append(f"{mean:+.3f} ± {err:.3f}")
            val = [select(frame, cohort, setting, run)["val"].mean() for setting in SETTINGS]
            cells.append(f"{val[0]:.3f} → {val[1]:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        best = max(paired(frame, cohort, "tuned", run)[0] for run in ("lego_merge", "lego_fuse"))
        met = "met" if best >= GOAL else f"missed by {GOAL - best:.3f}"
        verdicts.append(f"- {cohort}: best tuned LegoMerge/LegoFuse Δ coxnet {best:+.3f}: {met}")
    lines += ["", "## Goal: tuned LegoMerge or LegoFuse within 0.02 of coxnet", "", *verdicts]
    lines += ["", "## Wall time (2 shared cores)", ""]
    lines += [f"- {setting}: {sec / 60:.1f} min" for setting, sec in seconds.items()]
    return "\n".join(lines) + "\n"


def tuning_stats(config: dict) -> str:
    """Per cohort and tuned run: the trials each split's study ran (complete, pruned), how
    many splits kept trial 0 (the defaults), and the mean gain of the best trial over trial 0
    in the objective's units (read from the tuned study's ``tuning.json`` files)."""
    lines = ["", "## The tuned studies' trials", ""]
    lines += ["| cohort | run | trials (complete + pruned) | kept the defaults | best − trial 0 |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for ds, runs in runs_of(config).items():
        root = layout.dataset_dir(config["output_dir"], ds)
        for run in runs:
            found = []
            for k in range(config["splits"]["repeats"]):
                path = Path(layout.run_dir(root, run, k)) / "tuning.json"
                if path.exists():
                    found.append(json.loads(path.read_text()))
            if not found:
                continue
            states = [[t["state"] for t in f["trials"]] for f in found]
            cells = ", ".join(f"{s.count('COMPLETE')}+{s.count('PRUNED')}" for s in states)
            kept = sum(f["chosen"]["trial"] == 0 for f in found)
            gains = [
                max(t["value"] for t in f["trials"] if t["value"] is not None)
                - f["trials"][0]["value"]
                for f in found
                if f["trials"][0]["value"] is not None
            ]
            gain = f"{np.mean(gains):+.4f}" if gains else ""
            lines.append(f"| {ds} | `{run}` | {cells} | {kept} of {len(found)} | {gain} |")
    return "\n".join(lines) + "\n"


def record_seconds(path: Path, setting: str, seconds: float) -> None:
    """Add one study's wall time to ``seconds.json`` (read afresh: the studies may run apart)."""
    times = json.loads(path.read_text()) if path.exists() else {}
    write_json_atomic(path, {**times, setting: round(seconds, 1)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/real_cohorts"))
    parser.add_argument("--trials", type=int, default=30, help="tune.trials of the tuned study")
    parser.add_argument(
        "--fixed-latent", action="store_true",
        help="do not tune the LegoBlocks' latent shape (no shared stage: half the fits)",
    )  # fmt: skip
    parser.add_argument(
        "--objective", choices=("loss", "metric"), help="tune.objective (default: unset)"
    )
    parser.add_argument("--margin", type=float, help="tune.margin (default: unset, 0)")
    parser.add_argument(
        "--timeout-s", type=float,
        help="tune.timeout_s, a cap per study (trials then depend on the machine's speed)",
    )  # fmt: skip
    parser.add_argument("--startup-trials", type=int, help="tune.startup_trials (default 5)")
    parser.add_argument("--warmup-epochs", type=int, help="tune.warmup_epochs (default 2)")
    parser.add_argument(
        "--space", choices=("default", "small"), default="default",
        help="small: only train.lr, train.weight_decay and lego.dropout",
    )  # fmt: skip
    parser.add_argument("--name", help="folder of the tuned study under --out (default tuned)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--setting", choices=SETTINGS, action="append", help="default: both")
    parser.add_argument("--report-only", action="store_true", help="only remake the report")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    for cohort in COHORTS:
        export_cohort.write_cohort(cohort, out / "raw" / cohort)
    given = {
        "objective": args.objective,
        "margin": args.margin,
        "timeout_s": args.timeout_s,
        "startup_trials": args.startup_trials,
        "warmup_epochs": args.warmup_epochs,
    }
    extra = {key: value for key, value in given.items() if value is not None}
    configs = {
        s: study(out, s, args.trials, args.fixed_latent, extra, args.space, args.name)
        for s in SETTINGS
    }
    label = {"defaults": "defaults", "tuned": args.name or "tuned"}
    if not args.report_only:
        for setting in args.setting or SETTINGS:
            took = run_study(
                configs[setting],
                out / f"{label[setting]}.yaml",
                args.cores,
                targets(configs[setting]),
            )
            record_seconds(out / "seconds.json", label[setting], took)
    times = json.loads((out / "seconds.json").read_text())
    seconds = {label[s]: times[label[s]] for s in SETTINGS if label[s] in times}
    frame = pd.concat([scores(configs[s], s) for s in SETTINGS], ignore_index=True)
    cox = frame.query("run == 'coxnet'").pivot_table("test", ["cohort", "split"], "setting")
    if not np.allclose(cox["defaults"], cox["tuned"]):
        raise SystemExit("coxnet differs between the two studies; they must share splits")
    frame.to_csv(out / f"{args.name or 'real_cohorts'}.csv", index=False)
    text = markdown(frame, seconds, args.trials, args.fixed_latent)
    if configs["tuned"]["tune"]["trials"] > 0:
        text += tuning_stats(configs["tuned"])
    if extra or args.space != "default":
        # The header above names the default space; say what this study tuned instead.
        text += f"\nTuned study `{label['tuned']}`: space {args.space}, tune {extra}.\n"
    payload = {
        "trials": args.trials,
        "fixed_latent": args.fixed_latent,
        "tune": extra,
        "space": args.space,
        "seconds": seconds,
        "rows": frame.to_dict("records"),
    }
    write_report(out, "real_cohorts" if args.name is None else args.name, payload, text)


if __name__ == "__main__":
    main()
