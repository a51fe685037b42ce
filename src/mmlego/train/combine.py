"""The LegoMerge and LegoFuse jobs: load a split's trained blocks, combine them, write outputs.

Besides the usual outputs, the merge job writes ``missing_modality.json``: the test metric of
the merge with all modalities, with each modality removed from every test patient, and of each
block alone on the test patients who have its modality (a block has nothing to go on for the
others), so that missing-modality inference is measured on every run.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mmlego.models.base import Batch, InputSpec, ModalityBatch, MultimodalModel, input_specs
from mmlego.models.fuse import FUSE_SELECT, LegoFuse
from mmlego.models.lego import LegoBlock
from mmlego.models.merge import LegoMerge
from mmlego.train.data import PatientDataset, ids_with_modalities
from mmlego.train.loop import fit
from mmlego.train.monitor import metric_name, validation_metric
from mmlego.train.outputs import build_from_checkpoint, read_checkpoint
from mmlego.train.run import write_run_outputs
from mmlego.utils.atomic import write_json_atomic

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

log = logging.getLogger(__name__)


def load_blocks(
    block_paths: dict[str, str | Path], data: SplitData
) -> tuple[dict[str, LegoBlock], dict[str, Any], dict[str, InputSpec]]:
    """The trained blocks, their hparams and modality specs; checks them against the split."""
    blocks, cfgs, spec = {}, {}, {}
    for modality, path in block_paths.items():
        payload = read_checkpoint(path)
        if payload["model"] != "lego_block" or list(payload["modalities"]) != [modality]:
            raise ValueError(
                f"{path}: expected a LegoBlock of modality {modality!r}, found {payload['model']} on {list(payload['modalities'])}"
            )
        if payload["task"] != data.task or payload["n_out"] != data.n_out:
            raise ValueError(
                f"{path}: block was trained for {payload['task']} with {payload['n_out']} outputs, the split has {data.task} with {data.n_out}"
            )
        blocks[modality] = build_from_checkpoint(payload)
        cfgs[modality] = payload["hparams"]
        spec[modality] = input_specs(payload["modalities"])[modality]
    return blocks, cfgs, spec


def without_modality(batch: Batch, modality: str) -> Batch:
    """``batch`` with ``modality`` removed from every sample (empty, not present)."""
    mb = batch[modality]
    mask = None if mb.mask is None else torch.zeros_like(mb.mask)
    return {
        **batch,
        modality: ModalityBatch(torch.zeros_like(mb.x), torch.zeros_like(mb.present), mask),
    }


@torch.no_grad()
def set_metric(
    model: MultimodalModel, data: SplitData, set_name: str, drop: str | None = None,
    require: tuple[str, ...] = (),
) -> float | None:  # fmt: skip
    """The task metric of ``model`` on a set (None if undefined), optionally without one
    modality, on the set's patients who have every modality of ``require``."""
    model.eval()
    dataset = PatientDataset(data, ids_with_modalities(data, data.sets[set_name], require))
    logits, targets = [], []
    for batch, target, _ in dataset.loader(64, shuffle=False):
        logits.append(model(batch if drop is None else without_modality(batch, drop)))
        targets.append(target)
    merged = {k: torch.cat([t[k] for t in targets]) for k in targets[0]}
    value = validation_metric(data.task, torch.cat(logits), merged)
    return None if math.isnan(value) else value


def missing_modality_report(
    merged: LegoMerge, data: SplitData, dataset: str, split: int
) -> dict[str, Any]:
    """Test metric of the full merge and of the merge without each modality (every test
    patient), and of each block (the test patients with its modality)."""
    return {
        "dataset": dataset,
        "split": split,
        "set": "test",
        "metric": metric_name(data.task),
        "merge": set_metric(merged, data, "test"),
        "without": {m: set_metric(merged, data, "test", drop=m) for m in merged.modalities},
        "blocks": {
            m: set_metric(merged.blocks[m], data, "test", require=(m,)) for m in merged.modalities
        },
    }


def merge_run(
    data: SplitData, *, block_paths: dict[str, str | Path], cfg: dict[str, Any], dataset: str, split: int,
    out_dir: str | Path, provenance: dict[str, Any], device: torch.device | str = "cpu",
) -> LegoMerge:  # fmt: skip
    """Merge the split's blocks (``cfg`` = {"merge": {...}}) and write the merge's outputs."""
    blocks, block_cfgs, spec = load_blocks(block_paths, data)
    merged = LegoMerge(blocks, **cfg["merge"]).to(device).eval()
    hparams = {"blocks": block_cfgs, "merge": merged.options()}
    write_run_outputs(
        out_dir, merged, data, name="lego_merge", run="lego_merge", dataset=dataset, split=split,
        hparams=hparams, modalities=spec, provenance=provenance, device=device,
    )  # fmt: skip
    report = missing_modality_report(merged.cpu(), data, dataset, split)
    write_json_atomic(Path(out_dir) / "missing_modality.json", report, provenance=provenance)
    log.info(
        "merge test %s %s; without each modality %s; blocks %s",
        report["metric"],
        report["merge"],
        report["without"],
        report["blocks"],
    )
    return merged


def fuse_run(
    data: SplitData, *, block_paths: dict[str, str | Path], cfg: dict[str, Any], dataset: str, split: int,
    out_dir: str | Path, provenance: dict[str, Any], device: torch.device | str = "cpu", seed: int = 0,
) -> LegoFuse:  # fmt: skip
    """Fuse the split's blocks, fine-tune them on paired patients and write the outputs.

    ``cfg`` holds the validated ``fuse``, ``merge`` (its ``head`` starts the fused head) and
    ``train`` sections. ``fuse.select``: ``last`` keeps the last epoch's weights (the paper),
    ``best`` the best validation epoch's.
    """
    blocks, block_cfgs, spec = load_blocks(block_paths, data)
    fuse_cfg, head = cfg["fuse"], cfg["merge"]["head"]
    if fuse_cfg["select"] not in FUSE_SELECT:
        raise ValueError(f"fuse.select: {fuse_cfg['select']!r} is not one of {FUSE_SELECT}")
    fused = LegoFuse(blocks, mode=fuse_cfg["mode"], head=head)
    train_cfg = cfg["train"]
    result = fit(
        fused, data, train_cfg, require=list(spec), device=device, seed=seed,
        lr=fuse_cfg.get("lr"), epochs=fuse_cfg["epochs"],
        restore_best=fuse_cfg["select"] == "best",
    )  # fmt: skip
    log.info(
        "fuse: best epoch %d (%s %.4f); keeping the %s epoch",
        result.best_epoch, result.monitor, result.best_score, fuse_cfg["select"],
    )  # fmt: skip
    hparams = {"blocks": block_cfgs, "fuse": fuse_cfg, "merge": {"head": head}, "train": train_cfg}
    write_run_outputs(
        out_dir, fused, data, name="lego_fuse", run="lego_fuse", dataset=dataset, split=split,
        hparams=hparams, modalities=spec, provenance=provenance, train_log=result.log, device=device,
    )  # fmt: skip
    return fused
