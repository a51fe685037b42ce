"""One run's ``metrics.json`` for one split: its val and test metrics from the saved predictions.

The ground truth comes from ``labels.parquet`` (the predictions' copies of time, event and
label must agree with it) and the censoring reference of the survival metrics is the train
set of the same split in ``splits.json``.

``val``, ``test``, ``n`` and ``events`` are scored on the complete cases (patients with every
modality of the dataset; :mod:`mmlego.evaluate.cases`), the patients Table 2 and the figures
compare every model on. ``available`` holds the same keys scored on every patient who has the
run's modalities (all patients for a multimodal run), for ``tables/missing_modality.*``, and
``patients`` the size of each set before either choice.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmlego.evaluate.cases import Presence, scored_mask
from mmlego.evaluate.metric_names import METRICS
from mmlego.evaluate.metrics import (
    UndefinedMetricWarning,
    binary_auc,
    binary_average_precision,
    harrell_c,
    integrated_brier,
    macro_ovr_auc,
    uno_c,
)
from mmlego.predictions import SETS, Predictions, check_against_split, read_predictions
from mmlego.utils.atomic import write_json_atomic
from mmlego.utils.provenance import provenance


def _truth(preds: Predictions, labels: pd.DataFrame) -> pd.DataFrame:
    """The predictions joined to ``labels.parquet``; their label columns must agree."""
    cols = ["time", "event"] if preds.task == "survival" else ["label"]
    merged = preds.frame.merge(labels, on="patient_id", how="left", suffixes=("", "_truth"))
    unknown = merged[f"{cols[0]}_truth"].isna().to_numpy()
    if unknown.any():
        ids = merged.loc[unknown, "patient_id"].tolist()[:5]
        raise ValueError(f"{preds.source}: patients {ids} are not in labels.parquet")
    for col in cols:
        ours = merged[col].to_numpy(dtype=float)
        truth = merged[f"{col}_truth"].to_numpy(dtype=float)
        bad = ~np.isclose(ours, truth, rtol=1e-5, atol=1e-6)
        if bad.any():
            ids = merged.loc[bad, "patient_id"].tolist()[:5]
            raise ValueError(
                f"{preds.source}: column '{col}' disagrees with labels.parquet for patients {ids}; "
                "the predictions are stale, rerun the job"
            )
    return merged


def set_metrics(
    preds: Predictions, frame: pd.DataFrame, rows: pd.Series, train: pd.DataFrame | None
) -> dict[str, float]:
    """The task's metrics on the rows ``rows`` of ``frame`` (the joined predictions)."""
    part = frame.loc[rows.to_numpy()]
    if part.empty:
        warnings.warn(
            f"{preds.source}: no patient to score in this set; every metric is NaN",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return {name: float("nan") for name in METRICS[preds.task]}
    if preds.task == "survival":
        time = part["time_truth"].to_numpy(float)
        event = part["event_truth"].to_numpy(int)
        risk = part["risk"].to_numpy(float)
        surv = part[preds.columns("surv")].to_numpy(float)
        t_time, t_event = train["time"].to_numpy(float), train["event"].to_numpy(int)
        return {
            "c_index": harrell_c(time, event, risk),
            "c_index_uno": uno_c(t_time, t_event, time, event, risk),
            "ibs": integrated_brier(t_time, t_event, time, event, surv, preds.bins),
        }
    label = part["label_truth"].to_numpy(int)
    probs = part[preds.columns("prob")].to_numpy(float)
    if preds.task == "binary":
        return {
            "auc": binary_auc(label, probs[:, 1]),
            "average_precision": binary_average_precision(label, probs[:, 1]),
        }
    return {"auc_macro_ovr": macro_ovr_auc(label, probs)}


def score_sets(
    preds: Predictions, frame: pd.DataFrame, keep: np.ndarray, train: pd.DataFrame | None
) -> dict[str, Any]:
    """``val``, ``test``, ``n`` (and ``events``) on the rows of ``frame`` where ``keep``."""
    out: dict[str, Any] = {"n": {}}
    if preds.task == "survival":
        out["events"] = {}
    for name in SETS:
        rows = (frame["set"] == name) & keep
        out[name] = set_metrics(preds, frame, rows, train)
        out["n"][name] = int(rows.sum())
        if preds.task == "survival":
            out["events"][name] = int(frame.loc[rows, "event_truth"].sum())
    return out


def score_predictions(
    preds: Predictions,
    labels: pd.DataFrame,
    sets: dict[str, list[str]],
    k: int,
    presence: Presence | None = None,
) -> dict[str, Any]:
    """The ``metrics.json`` payload (without provenance) for one run and split.

    ``presence``: ``{modality: {patient_id: present}}`` of every modality of the dataset; the
    scopes are those of :mod:`mmlego.evaluate.cases`. None: every patient counts as having
    every modality (a study whose sets hold complete cases only, such as the unpaired one).
    """
    check_against_split(preds, sets, k)
    frame = _truth(preds, labels)
    train = None
    if preds.task == "survival":
        train = labels[labels["patient_id"].isin(set(sets["train"]))]
        if train.empty:
            raise ValueError(f"split {k}: no train patient is in labels.parquet")
    run = preds.meta.get("run")
    complete = available = np.ones(len(frame), dtype=bool)
    if presence is not None:
        if not run:
            raise ValueError(
                f"{preds.source}: metadata has no 'run', so its modalities are unknown"
            )
        ids = frame["patient_id"].astype(str)
        complete = scored_mask(ids, presence, run, "complete")
        available = scored_mask(ids, presence, run, "available")
    return {
        "dataset": preds.meta.get("dataset"),
        "run": run,
        "split": k,
        "task": preds.task,
        "patients": {name: int((frame["set"] == name).sum()) for name in SETS},
        **score_sets(preds, frame, complete, train),
        "available": score_sets(preds, frame, available, train),
    }


def train_seconds(train_log: str | Path | None) -> float | None:
    """Training time of a run: the sum of its ``train_log.csv``'s ``seconds`` column.

    None for runs without training (LegoMerge, the ensemble: no log is given).
    """
    if train_log is None:
        return None
    log = pd.read_csv(train_log)
    return float(log["seconds"].sum()) if "seconds" in log.columns else None


def nan_to_null(value: Any) -> Any:
    """Replace NaN floats by None so the JSON is strict (``null`` = undefined metric)."""
    if isinstance(value, dict):
        return {k: nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_null(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def write_metrics(
    predictions: str | Path,
    labels: pd.DataFrame,
    sets: dict[str, list[str]],
    k: int,
    out: str | Path,
    *,
    inputs: list[str | Path],
    train_log: str | Path | None = None,
    presence: Presence | None = None,
) -> dict[str, Any]:
    """Score a ``predictions.parquet`` against split ``k``'s sets and write ``metrics.json``.

    ``inputs`` (the files read) go into the provenance; ``train_log`` is the run's training
    log, for its training time (None for runs without training); ``presence`` as in
    :func:`score_predictions`. Returns the payload written.
    """
    preds = read_predictions(predictions)
    payload = score_predictions(preds, labels, sets, k, presence)
    payload["train_seconds"] = train_seconds(train_log)
    source = preds.meta.get("provenance") or {}
    record = provenance(
        None,
        seed=source.get("seed"),
        device=source.get("device"),
        predictions_provenance=source,
        inputs=[str(p) for p in inputs],
    )
    # Scoring has no config of its own: the study's config hash is the one the predictions carry.
    record["config_hash"] = source.get("config_hash")
    payload = nan_to_null(payload)
    write_json_atomic(out, payload, provenance=record)
    return payload
