"""Ensembles of unimodal runs: the mean of their predicted probabilities, curves or hazards.

No training. For one (dataset, split) it reads the members' ``predictions.parquet`` (the
unimodal runs of the models in ``baselines.ensemble.members``, e.g. ``snn.omics`` and
``abmil.slides``, for ``ensemble``; the LegoBlocks for ``lego_ensemble``) and averages, per
patient and set, over the members whose modality the patient has (a member only sees an empty
input for a patient without its modality, so its prediction there carries no information; a
patient with none of the modalities gets the mean of all members):

- classification: ``prob_0..K-1``;
- survival, ``survival_mean="survival"`` (``ensemble``): the survival curves ``surv_0..B-1``;
  the hazards are re-derived from the mean curve (h_b = 1 - S_b / S_{b-1}, S_{-1} = 1);
- survival, ``survival_mean="hazards"`` (``lego_ensemble``): the per-bin hazards
  ``hazard_0..B-1``, the outputs of the LegoBlocks' heads; the curve is S_b = prod_{j<=b}
  (1 - h_j).

The risk is -sum_b S_b, as for every model.

A member that lacks a patient cannot happen: every run predicts every val/test patient of
the split (missing modalities included), and the rows are checked to match.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

KEYS = ["patient_id", "set"]


def _columns(frame: pd.DataFrame, prefix: str) -> list[str]:
    return sorted(
        (c for c in frame.columns if c.startswith(prefix) and c[len(prefix) :].isdigit()),
        key=lambda c: int(c[len(prefix) :]),
    )


def hazards_from_survival(surv: np.ndarray) -> np.ndarray:
    """Per-bin hazards (n, B) of discrete survival curves (n, B): 1 - S_b / S_{b-1}."""
    previous = np.concatenate([np.ones_like(surv[:, :1]), surv[:, :-1]], axis=1)
    ratio = np.divide(surv, previous, out=np.zeros_like(surv), where=previous > 0)
    return np.clip(1.0 - ratio, 0.0, 1.0)


SURVIVAL_MEANS = {"survival": "surv_", "hazards": "hazard_"}


def average_predictions(
    members: Mapping[str, pd.DataFrame],
    task: str,
    present: Mapping[str, Mapping[str, bool]] | None = None,
    survival_mean: str = "survival",
) -> pd.DataFrame:
    """The members' mean prediction per (patient, set); raises naming a mismatched member.

    ``present``: per member, ``{patient_id: has the member's modality}``; members without the
    modality are left out of a patient's mean. None: every member counts for every patient.
    ``survival_mean``: what a survival task averages, ``survival`` curves or ``hazards``.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 member runs, got {sorted(members)}")
    if survival_mean not in SURVIVAL_MEANS:
        raise ValueError(
            f"survival_mean must be one of {list(SURVIVAL_MEANS)}, got {survival_mean!r}"
        )
    names = list(members)
    frames = {n: members[n].sort_values(KEYS).reset_index(drop=True) for n in names}
    first = frames[names[0]]
    prefix = SURVIVAL_MEANS[survival_mean] if task == "survival" else "prob_"
    columns = _columns(first, prefix)
    if not columns:
        raise ValueError(f"member run {names[0]!r} has no {prefix}* columns for a {task} task")
    carried = ["split", "time", "event"] if task == "survival" else ["split", "label"]
    for name in names[1:]:
        frame = frames[name]
        if not frame[KEYS].equals(first[KEYS]):
            raise ValueError(
                f"member runs {names[0]!r} and {name!r} predict different (patient_id, set) rows; "
                "rerun both on the same split"
            )
        if _columns(frame, prefix) != columns:
            raise ValueError(
                f"member runs {names[0]!r} and {name!r} have different {prefix}* columns "
                f"({columns} vs {_columns(frame, prefix)})"
            )
        for column in carried:
            if not frame[column].equals(first[column]):
                raise ValueError(f"member runs {names[0]!r} and {name!r} disagree on {column!r}")
    stack = np.stack([frames[n][columns].to_numpy(dtype=np.float64) for n in names])
    weight = np.ones(stack.shape[:2])
    if present is not None:
        ids = first["patient_id"].astype(str).tolist()
        weight = np.array([[present[n].get(i, False) for i in ids] for n in names], float)
        weight[:, weight.sum(axis=0) == 0] = 1.0
    mean = np.einsum("mn,mnk->nk", weight, stack) / weight.sum(axis=0)[:, None]
    out = first[KEYS + carried].copy()
    if task == "survival":
        if survival_mean == "hazards":
            hazards, surv = mean, np.cumprod(1.0 - mean, axis=1)
        else:
            hazards, surv = hazards_from_survival(mean), mean
        out["risk"] = -surv.sum(axis=1)
        for b in range(surv.shape[1]):
            out[f"hazard_{b}"] = hazards[:, b]
        for b in range(surv.shape[1]):
            out[f"surv_{b}"] = surv[:, b]
    else:
        for k in range(mean.shape[1]):
            out[f"prob_{k}"] = mean[:, k]
    return out
