"""``predictions.parquet`` (contract: docs/contracts.md): its one writer and its one checked
reader; and the reader of a split's sets in ``splits.json``.

Evaluation only ever reads saved predictions, never a model in memory, so everything the
metrics need is checked here once: the columns of the task, finite values, survival curves in
[0, 1] and non-increasing, class probabilities summing to one, and that the val/test patients
are exactly those of the split in ``splits.json`` (a mismatch would mean leakage or a stale file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmlego.data.splits import check_disjoint
from mmlego.utils.atomic import atomic_path

if TYPE_CHECKING:
    from mmlego.data.transforms import SplitData

SETS = ("val", "test")
PROB_TOL = 1e-3


@dataclass
class Predictions:
    """One run's predictions for one split, plus the metadata the writer stored."""

    frame: pd.DataFrame
    task: str
    bins: list[float] | None
    classes: list[str] | None
    meta: dict[str, Any]
    source: str

    def columns(self, prefix: str) -> list[str]:
        """``prefix_0 .. prefix_{K-1}`` in numeric order."""
        cols = [c for c in self.frame.columns if c.startswith(f"{prefix}_")]
        return sorted(cols, key=lambda c: int(c.rsplit("_", 1)[1]))

    def matrix(self, prefix: str, rows: pd.Series | None = None) -> np.ndarray:
        """The ``prefix_*`` columns as a float array (optionally for a row mask)."""
        frame = self.frame if rows is None else self.frame.loc[rows]
        return frame[self.columns(prefix)].to_numpy(dtype=float)

    def subset(self, name: str) -> pd.Series:
        """Row mask of one set (val or test)."""
        return self.frame["set"] == name


def parse_edges(bins: Any, source: str) -> list[float]:
    """Survival bin edges from metadata: ``B + 1`` increasing edges, first 0, last +inf."""
    try:
        edges = [float(b) for b in bins]
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{source}: metadata 'bins' must be a list of numbers, got {bins!r}"
        ) from err
    arr = np.asarray(edges)
    if len(arr) < 2 or np.any(np.diff(arr) <= 0) or arr[0] < 0:
        raise ValueError(
            f"{source}: metadata 'bins' must be >= 2 increasing non-negative edges, got {edges}"
        )
    return edges


def _bad_ids(frame: pd.DataFrame, bad: np.ndarray, limit: int = 5) -> str:
    ids = frame.loc[bad, "patient_id"].astype(str).tolist()
    more = f" (and {len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def run_meta(
    data: SplitData, *, run: str, dataset: str, provenance: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """The ``mmlego`` metadata of a run's predictions on split ``data``: its task, survival
    bins and classes, the run and dataset, any ``extra`` keys, and provenance."""
    return {
        "task": data.task,
        "bins": list(data.bins) if data.bins is not None else None,
        "classes": list(data.classes) if data.classes is not None else None,
        "run": run,
        "dataset": dataset,
        **extra,
        "provenance": provenance,
    }


def write_predictions(path: str | Path, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Write the predictions atomically with the ``mmlego`` schema metadata (``task``,
    ``bins``, ``classes``, ``run``, ``dataset``, ``provenance``)."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    metadata = {**(table.schema.metadata or {}), b"mmlego": json.dumps(meta, default=str).encode()}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def read_predictions(path: str | Path) -> Predictions:
    """Read and check one ``predictions.parquet``; errors name the file, column or patients."""
    source = str(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise ValueError(
            f"{source}: not a readable predictions parquet ({err}); delete it and rerun (its training job then runs again)"
        ) from err
    raw_meta = (table.schema.metadata or {}).get(b"mmlego")
    if raw_meta is None:
        raise ValueError(f"{source}: schema metadata 'mmlego' is missing (see docs/contracts.md)")
    meta = json.loads(raw_meta)
    task = meta.get("task")
    if task not in ("survival", "binary", "multiclass"):
        raise ValueError(
            f"{source}: metadata 'task' must be survival, binary or multiclass, got {task!r}"
        )
    frame = table.to_pandas()
    needed = ["patient_id", "set"] + (
        ["time", "event", "risk"] if task == "survival" else ["label"]
    )
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing} for a {task} task")
    frame["patient_id"] = frame["patient_id"].astype(str)
    unknown = sorted(set(frame["set"]) - set(SETS))
    if unknown:
        raise ValueError(f"{source}: column 'set' holds {unknown}; only {list(SETS)} are allowed")
    dupes = frame.duplicated(["patient_id", "set"], keep=False).to_numpy()
    if dupes.any():
        raise ValueError(f"{source}: duplicate (patient, set) rows for {_bad_ids(frame, dupes)}")
    preds = Predictions(frame, task, None, meta.get("classes"), meta, source)
    if task == "survival":
        _check_survival(preds, meta)
    else:
        _check_probabilities(preds)
    return preds


def _check_survival(preds: Predictions, meta: dict[str, Any]) -> None:
    frame, source = preds.frame, preds.source
    preds.bins = parse_edges(meta.get("bins"), source)
    n_bins = len(preds.bins) - 1
    surv_cols = preds.columns("surv")
    if len(surv_cols) != n_bins:
        raise ValueError(
            f"{source}: {len(surv_cols)} surv_* columns but metadata 'bins' has {n_bins} bins"
        )
    surv = preds.matrix("surv")
    risk = frame["risk"].to_numpy(dtype=float)
    bad = ~np.isfinite(surv).all(axis=1) | ~np.isfinite(risk)
    if bad.any():
        raise ValueError(
            f"{source}: non-finite risk or survival for patients {_bad_ids(frame, bad)}"
        )
    bad = ((surv < -1e-6) | (surv > 1 + 1e-6)).any(axis=1) | (np.diff(surv, axis=1) > 1e-6).any(
        axis=1
    )
    if bad.any():
        raise ValueError(
            f"{source}: survival must lie in [0, 1] and not increase over the bins; "
            f"violated for patients {_bad_ids(frame, bad)}"
        )


def _check_probabilities(preds: Predictions) -> None:
    frame, source = preds.frame, preds.source
    prob_cols = preds.columns("prob")
    if len(prob_cols) < 2:
        raise ValueError(
            f"{source}: need prob_0..prob_{{K-1}} columns with K >= 2, found {prob_cols}"
        )
    probs = preds.matrix("prob")
    bad = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1)
    bad |= np.abs(probs.sum(axis=1) - 1) > PROB_TOL
    if bad.any():
        raise ValueError(
            f"{source}: class probabilities must be finite, >= 0 and sum to 1 (softmax outputs); "
            f"violated for patients {_bad_ids(frame, bad)}"
        )
    labels = frame["label"].to_numpy()
    bad = (labels < 0) | (labels >= len(prob_cols))
    if bad.any():
        raise ValueError(
            f"{source}: label outside 0..{len(prob_cols) - 1} for patients {_bad_ids(frame, bad)}"
        )


def read_split_sets(path: str | Path, k: int) -> dict[str, list[str]]:
    """The train/val/test patient ids of split ``k`` of a ``splits.json``."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable splits.json ({err})") from err
    splits = doc.get("splits")
    if not isinstance(splits, list) or not 0 <= k < len(splits):
        n = len(splits) if isinstance(splits, list) else 0
        raise KeyError(f"{path}: split {k} does not exist (the file holds {n} splits)")
    sets = splits[k]
    for name in ("train", *SETS):
        if name not in sets:
            raise KeyError(f"{path}: split {k} has no '{name}' set")
    check_disjoint(sets, path, k)
    return {name: [str(i) for i in sets[name]] for name in ("train", *SETS)}


def check_against_split(preds: Predictions, sets: dict[str, list[str]], k: int) -> None:
    """The val and test rows must be exactly split ``k``'s val and test patients."""
    for name in SETS:
        got = set(preds.frame.loc[preds.subset(name), "patient_id"])
        want = set(sets[name])
        if got != want:
            extra, lost = sorted(got - want)[:5], sorted(want - got)[:5]
            raise ValueError(
                f"{preds.source}: the '{name}' rows do not match split {k} of splits.json "
                f"(not in the split: {extra}; missing: {lost}); the predictions are stale, rerun the job"
            )
