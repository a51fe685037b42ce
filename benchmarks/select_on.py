"""Which epoch-selection rule (``train.select_on``, ``train.min_epochs``) holds on validation.

Issue 17 item 3 asks for defaults chosen on validation, never on test. For every LegoBlock run
on a tabular or time-series modality of the given datasets and every split of a study whose
transforms are built, the run trains all ``train.epochs`` (patience off) and its validation
logits are kept after each epoch. The validation patients are halved (seeded); each rule
picks an epoch on one half, with the config's patience, exactly as the training loop would
(:func:`mmlego.train.monitor.replay`), and is scored by the other half's metric at that
epoch, both ways round. The report gives each rule's mean held-out metric and its paired
difference from ``metric``/1 (today's default) with its standard error.

Usage (the study's transforms must exist, e.g. ``snakemake .../transforms/split{k}.json``)::

    python benchmarks/select_on.py --config config/config.yaml --datasets tcga,icd9,mort
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from summary import write_report

from mmlego import layout
from mmlego.config import load_config
from mmlego.data.kinds import dataset_modalities
from mmlego.data.splits import n_splits
from mmlego.data.transforms import SplitData, SplitFiles, load_split
from mmlego.models.catalogue import job_config
from mmlego.models.losses import TaskLoss
from mmlego.train.data import PatientDataset, ids_with_modalities
from mmlego.train.loop import predict
from mmlego.train.monitor import replay, validation_metric
from mmlego.train.run import fit_run
from mmlego.utils.seeding import derive_seed, seed_everything

RULES = [("metric", 1), ("metric", 3), ("metric", 5), ("loss", 1), ("loss", 3), ("loss", 5)]
BASE = "metric/1"


def val_curves(data: SplitData, run: str, modality: str, cfg: dict, seed: int):
    """The run's validation set and its logits after every epoch of a full-length fit."""
    val = PatientDataset(data, ids_with_modalities(data, data.sets["val"], [modality]), [modality])
    curves: list[torch.Tensor] = []

    def keep(epoch, model, row):
        curves.append(predict(model, val)[0])

    full = {**cfg, "train": {**cfg["train"], "patience": cfg["train"]["epochs"]}}
    seed_everything(seed)
    fit_run(data, run=run, split=0, cfg=full, seed=seed, on_epoch_end=keep)
    return val, curves


def half_log(task: str, loss_fn: TaskLoss, val: PatientDataset, curves, rows) -> pd.DataFrame:
    """The per-epoch validation loss and metric of the patients at positions ``rows``."""
    index = torch.as_tensor(rows)
    targets = {key: value[index] for key, value in val.targets.items()}
    return pd.DataFrame(
        {
            "epoch": epoch,
            "val_loss": float(loss_fn(logits[index], targets)),
            "val_metric": validation_metric(task, logits[index], targets),
        }
        for epoch, logits in enumerate(curves, start=1)
    )


def measure(config: dict, datasets: list[str]) -> pd.DataFrame:
    """One row per (dataset, split, run, half, rule): the kept epoch and the other half's metric."""
    cfg = job_config(config, "lego_block")
    patience = cfg["train"]["patience"]
    records = []
    for ds in datasets:
        root = layout.dataset_dir(config["output_dir"], ds)
        mods = [m.name for m in dataset_modalities(config["datasets"][ds]) if m.kind != "bag"]
        stores = {m: layout.modality_store(root, m) for m in mods}
        for k in range(n_splits(config["splits"])):
            files = SplitFiles(
                layout.labels(root), layout.splits(root), layout.transforms(root, k), stores
            )
            for mod in mods:
                run = f"lego_block.{mod}"
                data = load_split(files, k, modalities=[mod])
                val, curves = val_curves(
                    data, run, mod, cfg, derive_seed(config["seed"], ds, k, run)
                )
                loss_fn = TaskLoss(data.task, alpha=cfg["train"]["survival_alpha"])
                order = np.random.default_rng(derive_seed(0, ds, k, run, "halves")).permutation(
                    len(val)
                )
                halves = [order[: len(val) // 2], order[len(val) // 2 :]]
                logs = [half_log(data.task, loss_fn, val, curves, rows) for rows in halves]
                for select_on, min_epochs in RULES:
                    for pick, score in ((0, 1), (1, 0)):
                        kept, _ = replay(logs[pick], use_metric=select_on == "metric",
                                         min_epochs=min_epochs, patience=patience)  # fmt: skip
                        kept = max(kept, 1)  # no epoch kept (all NaN): the loop keeps the start
                        metric = logs[score].set_index("epoch").loc[kept, "val_metric"]
                        records.append({"dataset": ds, "split": k, "run": run, "half": pick,
                                        "rule": f"{select_on}/{min_epochs}", "kept": kept,
                                        "held_out_metric": float(metric)})  # fmt: skip
    return pd.DataFrame(records)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset (and all): each rule's mean held-out metric and kept epoch, and its paired
    difference from ``metric``/1 with the standard error."""
    wide = frame.pivot_table(
        index=["dataset", "split", "run", "half"], columns="rule", values="held_out_metric"
    )
    rows = []
    for name, group in [*wide.groupby(level="dataset"), ("all", wide)]:
        kept = frame if name == "all" else frame[frame["dataset"] == name]
        for rule in group.columns:
            diff = group[rule] - group[BASE]
            rows.append({"dataset": name, "rule": rule, "held_out": group[rule].mean(),
                         "vs_default": diff.mean(), "se": diff.std() / np.sqrt(len(diff)),
                         "kept_epoch": kept.loc[kept["rule"] == rule, "kept"].mean(),
                         "pairs": len(diff)})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config/config.yaml", help="the study's config")
    parser.add_argument("--datasets", required=True, help="comma-separated dataset keys")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    table = summarise(measure(config, args.datasets.split(",")))
    text = "\n".join([
        "# Epoch selection on validation (select_on, min_epochs)", "",
        f"Config `{args.config}`; the rule picks on one half of each validation set and is "
        f"scored on the other; `vs_default` is the paired difference from `{BASE}`.", "",
        table.to_markdown(index=False, floatfmt=".4f"), "",
    ])  # fmt: skip
    write_report(args.out, "select_on", {"rows": table.to_dict(orient="records")}, text)


if __name__ == "__main__":
    main()
