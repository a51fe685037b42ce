"""The validation runs that chose the ``lego`` and ``fuse.select`` defaults (config/README.md).

For every dataset and split of a finished study (its labels, splits, transforms and modality
stores), each variant of the ``lego`` section trains one LegoBlock per modality with the
workflow's own functions and seeds (``fit_run``, ``derive_seed(seed, dataset, split, run)``),
merges them with the config's ``merge`` section and, with ``--fuse``, fuses them once per
``fuse.select`` value. Everything is scored on the **complete cases** of the val and test sets
(patients with every modality of the dataset): each block, LegoMerge, ``lego_ensemble`` (the
mean of the blocks' probabilities; survival: of their hazards) and LegoFuse. ``--before``
scores a finished run's saved predictions the same way. Defaults are chosen on val only.

    python scripts/lego_variants.py --study results/demo --config config/config.yaml \\
        --variant 'own={"weight_sharing": false}' --variant 'shared={"weight_sharing": true}' \\
        --out results/experiments/lego_variants

Each (variant, dataset, split) is written to ``{out}/{variant}/{ds}/split{k}.json`` and reused
when present, so an interrupted run resumes; ``{out}/summary.{json,md}`` hold the means over
the splits.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mmlego import layout
from mmlego.config import load_config
from mmlego.data.kinds import dataset_modalities
from mmlego.data.transforms import SplitData, SplitFiles, load_split
from mmlego.evaluate.metrics import binary_auc, harrell_c, macro_ovr_auc
from mmlego.models.catalogue import job_config, parse_run
from mmlego.models.fuse import LegoFuse
from mmlego.models.merge import LegoMerge
from mmlego.predictions import read_predictions
from mmlego.train.data import PatientDataset, ids_with_modalities
from mmlego.train.loop import fit, predict
from mmlego.train.outputs import predictions_frame
from mmlego.train.run import fit_run
from mmlego.utils.atomic import write_json_atomic
from mmlego.utils.seeding import derive_seed, seed_everything

log = logging.getLogger("lego_variants")
SETS = ("val", "test")


# --------------------------------------------------------------------------- scoring


def frame_metric(frame: pd.DataFrame, task: str) -> float | None:
    """The task metric of a predictions frame (one set), None when the set cannot define it."""
    if task == "survival":
        value = harrell_c(
            frame["time"].to_numpy(), frame["event"].to_numpy(), frame["risk"].to_numpy()
        )
    else:
        probs = frame[[c for c in frame.columns if c.startswith("prob_")]].to_numpy(dtype=float)
        labels = frame["label"].to_numpy()
        value = (
            binary_auc(labels, probs[:, 1]) if task == "binary" else macro_ovr_auc(labels, probs)
        )
    return None if math.isnan(value) else value


def ensemble_frame(frames: list[pd.DataFrame], task: str) -> pd.DataFrame:
    """The mean of aligned frames' probabilities, or (survival) of their hazards."""
    out = frames[0].copy()
    if task == "survival":
        hazard_cols = [c for c in out.columns if c.startswith("hazard_")]
        hazards = np.mean([f[hazard_cols].to_numpy(dtype=float) for f in frames], axis=0)
        surv = np.cumprod(1.0 - hazards, axis=1)
        out[hazard_cols] = hazards
        out[[f"surv_{b}" for b in range(surv.shape[1])]] = surv
        out["risk"] = -surv.sum(axis=1)
        return out
    prob_cols = [c for c in out.columns if c.startswith("prob_")]
    out[prob_cols] = np.mean([f[prob_cols].to_numpy(dtype=float) for f in frames], axis=0)
    return out


def score_frames(
    frames: dict[str, pd.DataFrame], task: str, cases: dict[str, list[str]]
) -> dict[str, Any]:
    """Metrics of every run (plus lego_ensemble of the blocks) on each set's complete cases."""
    result: dict[str, Any] = {"n": {s: len(cases[s]) for s in SETS}, "val": {}, "test": {}}
    for set_name in SETS:
        chosen = {}
        for run, frame in frames.items():
            rows = frame[frame["set"] == set_name].set_index("patient_id").loc[cases[set_name]]
            chosen[run] = rows.reset_index()
        blocks = [f for run, f in chosen.items() if run.startswith("lego_block.")]
        chosen["lego_ensemble"] = ensemble_frame(blocks, task)
        result[set_name] = {run: frame_metric(f, task) for run, f in chosen.items()}
    return result


def complete_cases(data: SplitData) -> dict[str, list[str]]:
    """The val and test patients with every modality of the split."""
    return {s: ids_with_modalities(data, data.sets[s], list(data.modalities)) for s in SETS}


def model_frame(model: torch.nn.Module, data: SplitData, split: int) -> pd.DataFrame:
    """Predictions of ``model`` for every val and test patient, in the predictions layout."""
    frames = []
    for set_name in SETS:
        dataset = PatientDataset(data, data.sets[set_name], list(model.modalities))
        logits, _, ids = predict(model, dataset)
        frames.append(predictions_frame(data.task, logits, ids, data.labels, set_name=set_name,
                                        split=split))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- one split


def run_variant(
    data: SplitData, config: dict[str, Any], *, dataset: str, split: int,
    lego: dict[str, Any], fuse: bool,
) -> dict[str, Any]:  # fmt: skip
    """Train the blocks of one variant on one split, merge (and fuse) them, score them.

    With ``fuse``, one fine-tuning run gives both ``fuse.select`` values: the last epoch's
    predictions and those of the best validation epoch (what ``restore_best`` keeps).
    """
    blocks, frames = {}, {}
    for modality in data.modalities:
        run = f"lego_block.{modality}"
        cfg = {**job_config(config, parse_run(run)[0]), "lego": lego}
        seed = derive_seed(config["seed"], dataset, split, run)
        seed_everything(seed)
        model, _, _ = fit_run(data, run=run, split=split, cfg=cfg, seed=seed)
        blocks[modality] = model.eval()
        frames[run] = model_frame(model, data, split)
    merged = LegoMerge(copy.deepcopy(blocks), **config["merge"]).eval()
    frames["lego_merge"] = model_frame(merged, data, split)
    cases = complete_cases(data)
    epochs: dict[int, pd.DataFrame] = {}
    if fuse:
        seed = derive_seed(config["seed"], dataset, split, "lego_fuse")
        seed_everything(seed)
        fused = LegoFuse(copy.deepcopy(blocks), mode=config["fuse"]["mode"],
                         head=config["merge"]["head"])  # fmt: skip

        def keep(epoch: int, model: torch.nn.Module, _: dict[str, float]) -> None:
            # Predicting draws from torch's RNG (the loader's base seed); restoring it keeps
            # the fine-tuning exactly the workflow's.
            state = torch.get_rng_state()
            epochs[epoch] = model_frame(model, data, split)
            torch.set_rng_state(state)

        fitted = fit(
            fused, data, config["train"], require=list(blocks), seed=seed,
            lr=config["fuse"]["lr"], epochs=config["train"]["fuse_epochs"], on_epoch_end=keep,
        )  # fmt: skip
        frames["lego_fuse.last"] = epochs[max(epochs)]
        frames["lego_fuse.best"] = epochs[fitted.best_epoch]
    scores = score_frames(frames, data.task, cases)
    if fuse:
        crossfit = crossfit_selection(epochs, data.task, cases["val"], seed)
        scores["val"].update({f"lego_fuse.{k} (val halves)": v for k, v in crossfit.items()})
    return scores


def crossfit_selection(
    epochs: dict[int, pd.DataFrame], task: str, val_ids: list[str], seed: int
) -> dict[str, float | None]:
    """fuse.select compared on val without selection bias.

    Scored on the val set that picks it, the best epoch wins by construction. Here the val
    complete cases are halved (seeded): the epoch is picked on one half (ties: the later
    epoch) and scored on the other, both ways; ``last`` is scored on the same halves.
    """
    order = np.random.default_rng(seed).permutation(val_ids)
    halves = [list(order[::2]), list(order[1::2])]

    def metric(epoch: int, ids: list[str]) -> float | None:
        frame = epochs[epoch]
        rows = frame[frame["set"] == "val"].set_index("patient_id").loc[ids].reset_index()
        return frame_metric(rows, task)

    scores: dict[str, list[float]] = {"last": [], "best": []}
    for pick, score in ((0, 1), (1, 0)):
        ranked = {e: metric(e, halves[pick]) for e in epochs}
        chosen = max(epochs, key=lambda e: (-math.inf if ranked[e] is None else ranked[e], e))
        for name, epoch in (("last", max(epochs)), ("best", chosen)):
            value = metric(epoch, halves[score])
            if value is not None:
                scores[name].append(value)
    return {name: float(np.mean(v)) if v else None for name, v in scores.items()}


def score_before(root: Path, data: SplitData, split: int) -> dict[str, Any]:
    """A finished run's saved block, merge and fuse predictions, scored as the variants are."""
    frames = {}
    for run_dir in sorted(root.iterdir()):
        path = run_dir / f"split{split}" / "predictions.parquet"
        if run_dir.name.startswith(("lego_block.", "lego_merge", "lego_fuse")) and path.is_file():
            frames[run_dir.name] = read_predictions(path).frame
    return score_frames(frames, data.task, complete_cases(data))


# --------------------------------------------------------------------------- summary


def summarise(out: Path, variants: list[str], datasets: list[str], splits: int) -> None:
    """Means (and stds, ddof 1) over the splits per variant, dataset, run and set."""
    rows = []
    for variant in variants:
        for ds in datasets:
            docs = [
                json.loads((out / variant / ds / f"split{k}.json").read_text())
                for k in range(splits)
                if (out / variant / ds / f"split{k}.json").is_file()
            ]
            if not docs:
                continue
            for set_name in SETS:
                for run in docs[0][set_name]:
                    values = [d[set_name][run] for d in docs if d[set_name].get(run) is not None]
                    rows.append({
                        "variant": variant, "dataset": ds, "set": set_name, "run": run,
                        "mean": float(np.mean(values)) if values else math.nan,
                        "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                        "splits": len(values), "n": docs[0]["n"][set_name],
                    })  # fmt: skip
    table = pd.DataFrame(rows)
    write_json_atomic(out / "summary.json", {"rows": rows}, provenance={})
    lines = ["# LegoBlock variants on the demo (complete cases, mean ± std over splits)", ""]
    for set_name in SETS:
        for ds in datasets:
            part = table[(table["set"] == set_name) & (table["dataset"] == ds)]
            if part.empty:
                continue
            cells = part.assign(
                cell=[f"{m:.3f} ± {s:.3f}" for m, s in zip(part["mean"], part["std"], strict=True)]
            )
            grid = cells.pivot(index="variant", columns="run", values="cell").reindex(
                [v for v in variants if v in set(part["variant"])]
            )
            lines += [f"## {ds}, {set_name} (n = {int(part['n'].iloc[0])} complete cases of split 0)", "",
                      grid.to_markdown(), ""]  # fmt: skip
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------- command line


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``name={"key": value, ...}``: a variant's overrides of the ``lego`` section."""
    name, sep, overrides = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--variant expects name=JSON, got {text!r}")
    return name, json.loads(overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, required=True, help="folder of the dataset dirs")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variant", type=parse_variant, action="append", default=[])
    parser.add_argument("--fuse", action="store_true", help="also fuse (both fuse.select values)")
    parser.add_argument("--before", action="store_true", help="score the study's own predictions")
    parser.add_argument("--datasets", nargs="*", help="default: every dataset of the config")
    parser.add_argument("--splits", type=int, help="the first N splits (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    torch.set_num_threads(1)
    config = load_config(args.config)
    datasets = args.datasets or list(config["datasets"])
    splits = args.splits or int(config["splits"]["repeats"])
    names = (["before"] if args.before else []) + [name for name, _ in args.variant]
    for ds in datasets:
        mods = [m.name for m in dataset_modalities(config["datasets"][ds])]
        for k in range(splits):
            jobs = [(name, lego) for name, lego in args.variant]
            target = {name: args.out / name / ds / f"split{k}.json" for name in names}
            if all(path.is_file() for path in target.values()):
                continue
            root = layout.dataset_dir(str(args.study), ds)
            files = SplitFiles(
                layout.labels(root), layout.splits(root), layout.transforms(root, k),
                {m: layout.modality_store(root, m) for m in mods},
            )  # fmt: skip
            data = load_split(files, k, modalities=mods)
            if args.before and not target["before"].is_file():
                result = score_before(args.study / ds, data, k)
                write_json_atomic(target["before"], result, provenance={})
            for name, overrides in jobs:
                if target[name].is_file():
                    continue
                lego = {**config["lego"], **overrides}
                result = run_variant(data, config, dataset=ds, split=k, lego=lego,
                                     fuse=args.fuse)  # fmt: skip
                write_json_atomic(target[name], {**result, "lego": lego}, provenance={})
                log.info("%s %s split %d: val %s", name, ds, k, result["val"])
    summarise(args.out, names, datasets, splits)


if __name__ == "__main__":
    main()
