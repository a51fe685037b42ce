"""The merge ablation: LegoMerge's aggregations compared on one split's trained blocks.

No training. The blocks' final frequency latents are computed once per set
(:meth:`LegoMerge.block_latents`); every combination of magnitude {harmonic, mean, sum}, phase
{circular, arithmetic (paper Eq. 3), magnitude-weighted: angle(Σ|Z|e^{iφ})} and head {slerp,
linear} is then merged from them (:func:`merged_logits`) and scored with the task's primary
metric on the complete cases of the val and test sets (patients with every modality, as in
Table 2). ``{ds}/merge_ablation/split{k}.json`` holds one row per (set, variant);
``tables/merge_ablation.*`` gathers the splits (:mod:`mmlego.evaluate.merge_ablation`).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mmlego.models.merge import LegoMerge, merged_logits
from mmlego.predictions import SETS
from mmlego.train.combine import load_blocks, merge_options
from mmlego.train.data import PatientDataset, ids_with_modalities
from mmlego.train.monitor import metric_name, validation_metric
from mmlego.utils.atomic import write_json_atomic

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

MAGNITUDES = ("harmonic", "mean", "sum")
# The merge's phase modes; ``mean`` is the arithmetic mean of the angles.
PHASES = ("circular", "mean", "weighted")
HEADS = ("slerp", "linear")
PHASE_LABELS = {"circular": "circular", "mean": "arithmetic", "weighted": "magnitude-weighted"}


@torch.no_grad()
def set_latents(
    merged: LegoMerge, data: SplitData, ids: list[str], batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The blocks' final latents (N, B, c, d), presence (N, B) and targets of patients ``ids``."""
    latents, present, targets = [], [], []
    for batch, target, _ in PatientDataset(data, ids).loader(batch_size, shuffle=False):
        z, p = merged.block_latents(batch)
        latents.append(z)
        present.append(p)
        targets.append(target)
    joined = {k: torch.cat([t[k] for t in targets]) for k in targets[0]}
    return torch.cat(latents, dim=1), torch.cat(present, dim=1), joined


def ablation_rows(merged: LegoMerge, data: SplitData) -> tuple[list[dict[str, Any]], dict]:
    """One row per (set, magnitude, phase, head) on the complete cases; and their n per set."""
    merged.eval()
    heads = merged.heads()
    rows, n = [], {}
    for set_name in SETS:
        ids = ids_with_modalities(data, data.sets[set_name], list(merged.modalities))
        n[set_name] = len(ids)
        scored = set_latents(merged, data, ids) if ids else None
        for magnitude, phase, head in itertools.product(MAGNITUDES, PHASES, HEADS):
            value = math.nan
            if scored is not None:
                latents, present, targets = scored
                logits = merged_logits(latents, present, heads, magnitude=magnitude,
                                       phase=phase, head=head, eps=merged.eps)  # fmt: skip
                value = validation_metric(data.task, logits, targets)
            rows.append(
                {
                    "set": set_name,
                    "magnitude": magnitude,
                    "phase": phase,
                    "head": head,
                    "value": None if math.isnan(value) else value,
                }
            )
    return rows, n


def merge_ablation_run(
    data: SplitData, *, block_paths: dict[str, str | Path], cfg: dict[str, Any], dataset: str,
    split: int, out: str | Path, provenance: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Score every merge variant of the split's blocks; write and return the JSON payload.

    ``cfg = {"merge": {...}}``: its ``eps`` is used, and its magnitude, phase and head are
    recorded as the study's ``default`` variant.
    """
    blocks, _, _ = load_blocks(block_paths, data)
    rows, n = ablation_rows(LegoMerge(blocks, **merge_options(cfg["merge"])), data)
    payload = {
        "dataset": dataset,
        "split": split,
        "task": data.task,
        "metric": metric_name(data.task),
        "cases": "complete",
        "n": n,
        "default": {k: cfg["merge"][k] for k in ("magnitude", "phase", "head")},
        "rows": rows,
    }
    write_json_atomic(out, payload, provenance=provenance)
    return payload
