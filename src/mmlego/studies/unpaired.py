"""The unpaired-data study's job for one split (Fig. 6).

For every overlap of ``unpaired/sets.json`` (:mod:`mmlego.data.unpaired`): one LegoBlock per
modality trained on its drawn patients (the shared training loop, early stopping on the
split's validation set), their LegoMerge (no training) and the ensemble of the same two
blocks, all predicting the split's validation set and the common paired test set, and every
run's ``metrics.json``. Outputs follow the main runs' layout under
``{ds}/unpaired/overlap{tag}/{run}/split{k}/``.

One job per split rather than per block: a block whose patients recur at another overlap (the
first modality's, by the nested draw) is trained once and written to each overlap, and the
demo study pays the process start-up a few times instead of dozens.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from mmlego import layout
from mmlego.evaluate.cases import split_presence
from mmlego.evaluate.score import write_metrics
from mmlego.models.baselines.ensemble import average_predictions
from mmlego.predictions import read_predictions, run_meta, write_predictions
from mmlego.train.combine import merge_run
from mmlego.train.loop import FitResult
from mmlego.train.run import fit_run, write_run_outputs
from mmlego.utils.seeding import derive_seed

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

log = logging.getLogger(__name__)


def study_data(data: SplitData, plan: dict[str, Any], source: str) -> SplitData:
    """``data`` with the study's sets: the split's train and val, the paired test patients.

    ``plan`` is the split's entry of ``sets.json``; it must describe the same split.
    """
    for name in ("train", "val"):
        if sorted(plan[name]) != sorted(data.sets[name]):
            raise ValueError(
                f"{source}: the {name} set differs from splits.json; the sets file is stale, "
                "rerun the unpaired_sets rule"
            )
    outside = sorted(set(plan["test"]) - set(data.sets["test"]))
    if outside:
        raise ValueError(
            f"{source}: test patients {outside[:5]} are not in the split's test set; "
            "the sets file is stale, rerun the unpaired_sets rule"
        )
    return dataclasses.replace(
        data, sets={"train": list(data.sets["train"]), "val": list(data.sets["val"]),
                    "test": list(plan["test"])}
    )  # fmt: skip


def ensemble_outputs(
    run_dir: str, block_predictions: dict[str, str], data: SplitData, meta: dict[str, Any]
) -> None:
    """The ensemble of the blocks' saved predictions (mean over the modalities a patient has)."""
    members = {run: read_predictions(p).frame for run, p in block_predictions.items()}
    present = {}
    for run in members:
        modality = data.modalities[run.split(".", 1)[1]]
        present[run] = dict(zip(map(str, modality.ids), map(bool, modality.present), strict=True))
    frame = average_predictions(members, data.task, present)
    write_predictions(layout.predictions(run_dir), frame, {**meta, "members": list(members)})


def run_unpaired_split(
    data: SplitData,
    plan: dict[str, Any],
    *,
    dataset: str,
    split: int,
    cfg: dict[str, Any],
    out_root: str | Path,
    labels: pd.DataFrame,
    inputs: list[str | Path],
    base_provenance: dict[str, Any],
    seed: int,
    device: torch.device | str = "cpu",
) -> list[str]:
    """Train, merge, ensemble and score every overlap of one split; returns the metrics files.

    ``cfg`` holds the ``train``, ``lego`` and ``merge`` sections; ``plan`` the split's entry
    of ``sets.json`` plus ``modalities``; ``inputs`` the files read (for the metrics'
    provenance).
    """
    data = study_data(data, plan, str(inputs[0]))
    sets = {name: data.sets[name] for name in ("train", "val", "test")}
    modalities = list(plan["modalities"])
    block_cfg = {"train": cfg["train"], "lego": cfg["lego"]}
    trained: dict[tuple[str, tuple[str, ...]], tuple[Any, FitResult, dict]] = {}
    written = []
    for entry in plan["blocks"]:
        study = {
            "overlap": entry["overlap"],
            "realized_overlap": entry["realized_overlap"],
            "set_size": plan["set_size"],
            "shared": entry["shared"],
        }
        record = {**base_provenance, "unpaired": study}
        paths: dict[str, str] = {}
        for modality in modalities:
            run = f"lego_block.{modality}"
            ids = entry["sets"][modality]
            key = (run, tuple(ids))
            train_data = dataclasses.replace(data, sets={**sets, "train": list(ids)})
            # The same seed at every overlap: only the patients differ between overlaps.
            run_seed = derive_seed(seed, dataset, split, "unpaired", run)
            if key not in trained:
                trained[key] = fit_run(
                    train_data, run=run, split=split, cfg=block_cfg, device=device, seed=run_seed
                )
            model, result, spec = trained[key]
            paths[run] = layout.unpaired_run_dir(str(out_root), entry["overlap"], run, split)
            write_run_outputs(
                paths[run], model, train_data, name="lego_block", run=run, dataset=dataset,
                split=split, hparams=block_cfg, modalities=spec,
                provenance={**record, "run": run, "seed": run_seed}, train_log=result.log,
                device=device,
            )  # fmt: skip
        merge_dir = layout.unpaired_run_dir(str(out_root), entry["overlap"], "lego_merge", split)
        merge_run(
            data, block_paths={m: layout.model(paths[f"lego_block.{m}"]) for m in modalities},
            cfg={"merge": cfg["merge"]}, dataset=dataset, split=split, out_dir=merge_dir,
            provenance={**record, "run": "lego_merge"}, device=device,
        )  # fmt: skip
        ensemble_dir = layout.unpaired_run_dir(str(out_root), entry["overlap"], "ensemble", split)
        ensemble_outputs(
            ensemble_dir,
            {run: layout.predictions(p) for run, p in paths.items()},
            data,
            run_meta(
                data, run="ensemble", dataset=dataset, provenance={**record, "run": "ensemble"}
            ),
        )
        for run_dir in [*paths.values(), merge_dir, ensemble_dir]:
            predictions = layout.predictions(run_dir)
            train_log = layout.train_log(run_dir) if run_dir in paths.values() else None
            payload = write_metrics(
                predictions, labels, sets, split, layout.metrics(run_dir),
                inputs=[predictions, *inputs], train_log=train_log,
                presence=split_presence(data.modalities),
            )  # fmt: skip
            log.info(
                "overlap %s (realised %.3f) %s: test %s",
                entry["tag"],
                entry["realized_overlap"],
                payload["run"],
                payload["test"],
            )
            written.append(layout.metrics(run_dir))
    return written
