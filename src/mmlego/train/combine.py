"""The LegoMerge, adaptive LegoMerge and LegoFuse jobs: load a split's trained blocks, combine
them, write outputs.

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

from mmlego import layout
from mmlego.models.base import Batch, InputSpec, ModalityBatch, MultimodalModel, input_specs
from mmlego.models.compose import NaiveMC
from mmlego.models.fuse import FUSE_SELECT, LegoFuse
from mmlego.models.lego import LegoBlock
from mmlego.models.merge import LegoMerge, LegoMergeAdaptive
from mmlego.train.data import PatientDataset, ids_with_modalities
from mmlego.train.loop import fit
from mmlego.train.merge_weights import (
    DEFAULT_MARGIN,
    DEFAULT_STEP,
    GRID_MAX,
    SELECT_ON,
    Score,
    choose_weights,
    composition_scorer,
    grid_units,
    required_gain,
    set_score,
    validation_scorer,
    weights_report,
)
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


def merge_options(section: dict[str, Any]) -> dict[str, Any]:
    """The ``merge`` section's LegoMerge arguments (its ``adaptive`` part is the λ search's)."""
    return {k: v for k, v in section.items() if k != "adaptive"}


def adaptive_options(cfg: dict[str, Any]) -> tuple[float, float, str]:
    """``merge.adaptive``'s (step, margin, select_on), checked before anything is loaded or
    written."""
    section = cfg.get("merge", {}).get("adaptive", {})
    step = float(section.get("step", DEFAULT_STEP))
    margin = float(section.get("margin", DEFAULT_MARGIN))
    select_on = str(section.get("select_on", SELECT_ON[0]))
    grid_units(step)
    required_gain(margin, 1)
    set_score("survival", select_on)  # raises on an unknown value
    return step, margin, select_on


def tuned_weights(
    score: Score, modalities: list[str], data: SplitData, *, step: float, margin: float,
    seed: int, select_on: str = "metric",
) -> tuple[tuple[float, ...], dict[str, Any]]:  # fmt: skip
    """λ chosen on the validation patients (``score``) and the ``lambda.json`` contents."""
    n_val = len(data.sets["val"])
    gain = required_gain(margin, n_val)
    n = len(modalities)
    chosen, curve = choose_weights(score, n, step=step, seed=seed, gain=gain)
    report = weights_report(
        modalities, chosen, curve, task=data.task, step=step,
        search="grid" if n <= GRID_MAX else "coordinate", margin=margin, gain=gain, n_val=n_val,
        select_on=select_on,
    )  # fmt: skip
    return chosen, report


def merge_run(
    data: SplitData, *, block_paths: dict[str, str | Path], cfg: dict[str, Any], dataset: str, split: int,
    out_dir: str | Path, provenance: dict[str, Any], device: torch.device | str = "cpu",
) -> LegoMerge:  # fmt: skip
    """Merge the split's blocks (``cfg`` = {"merge": {...}}) and write the merge's outputs."""
    blocks, block_cfgs, spec = load_blocks(block_paths, data)
    merged = LegoMerge(blocks, **merge_options(cfg["merge"])).to(device).eval()
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


def adaptive_merge_run(
    data: SplitData, *, block_paths: dict[str, str | Path], cfg: dict[str, Any], dataset: str, split: int,
    out_dir: str | Path, provenance: dict[str, Any], device: torch.device | str = "cpu", seed: int = 0,
) -> LegoMergeAdaptive:  # fmt: skip
    """Choose λ on the split's validation patients, merge with it, write the outputs.

    ``cfg`` = {"merge": {...}} with ``merge.adaptive.step`` and ``.margin``. Writes
    ``lambda.json`` (the chosen λ, the best of the curve and the validation curve) besides the
    model and its predictions. ``seed`` seeds the coordinate search (more than
    :data:`GRID_MAX` modalities).
    """
    step, margin, select_on = adaptive_options(cfg)  # a bad value stops the job before output
    blocks, block_cfgs, spec = load_blocks(block_paths, data)
    options = merge_options(cfg["merge"])
    # Validation only: the scorer is given the val set; no test label is read before λ is fixed.
    base = LegoMergeAdaptive(blocks, **options).eval()
    names = list(base.modalities)
    chosen, report = tuned_weights(validation_scorer(base, data, select_on=select_on), names,
                                   data, step=step, margin=margin, seed=seed,
                                   select_on=select_on)  # fmt: skip
    merged = LegoMergeAdaptive(blocks, weights=dict(zip(names, chosen, strict=True)), **options)
    merged = merged.to(device).eval()
    hparams = {"blocks": block_cfgs, "merge": merged.options()}
    write_run_outputs(
        out_dir, merged, data, name="lego_merge_adaptive", run="lego_merge_adaptive",
        dataset=dataset, split=split, hparams=hparams, modalities=spec, provenance=provenance,
        device=device,
    )  # fmt: skip
    write_json_atomic(layout.merge_weights(str(out_dir)), report, provenance=provenance)
    log.info(
        "adaptive merge: λ %s (val %s %s; equal weights %s; best of %d candidates %s at %s, "
        "taken if more than %.4f above equal weights)",
        report["lambda"], report["metric"], report["val_metric"], report["equal_val_metric"],
        len(report["curve"]), report["best_val_metric"], report["best_lambda"],
        report["required_gain"],
    )  # fmt: skip
    return merged


def compose_run(
    data: SplitData, *, block_paths: dict[str, str | Path], cfg: dict[str, Any], dataset: str, split: int,
    out_dir: str | Path, provenance: dict[str, Any], device: torch.device | str = "cpu", seed: int = 0,
    adaptive: bool = False,
) -> NaiveMC:  # fmt: skip
    """NaiveMC (equal weights) or, with ``adaptive``, DAMC (λ chosen on validation, written to
    ``lambda.json`` with ``cfg["merge"]["adaptive"]``'s step and margin); writes the model's
    outputs."""
    name = "damc" if adaptive else "naive_mc"
    step, margin, select_on = adaptive_options(cfg)  # a bad value stops the job before output
    blocks, block_cfgs, spec = load_blocks(block_paths, data)
    default_seed = LegoBlock.__init__.__kwdefaults__["init_seed"]
    init_seeds = {m: c["lego"].get("init_seed", default_seed) for m, c in block_cfgs.items()}
    if None in init_seeds.values() or len(set(init_seeds.values())) > 1:
        log.warning(
            "%s averages blocks that did not start from one draw (lego.init_seed %s): the "
            "average of unrelated parameters is rarely a useful model",
            name, init_seeds,
        )  # fmt: skip
    weights = None
    if adaptive:
        chosen, report = tuned_weights(
            composition_scorer(blocks, data, select_on=select_on), list(blocks), data,
            step=step, margin=margin, seed=seed, select_on=select_on,
        )  # fmt: skip
        weights = dict(zip(blocks, chosen, strict=True))
    composed = NaiveMC(blocks, weights=weights).to(device).eval()
    hparams = {"blocks": block_cfgs, "compose": composed.options()}
    write_run_outputs(
        out_dir, composed, data, name=name, run=name, dataset=dataset, split=split,
        hparams=hparams, modalities=spec, provenance=provenance, device=device,
    )  # fmt: skip
    if adaptive:
        write_json_atomic(layout.merge_weights(str(out_dir)), report, provenance=provenance)
        log.info("damc: λ %s (val %s %s; equal weights %s)", report["lambda"], report["metric"],
                 report["val_metric"], report["equal_val_metric"])  # fmt: skip
    return composed


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
