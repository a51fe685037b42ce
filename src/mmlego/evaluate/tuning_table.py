"""``tables/tuning.{csv,md}``: the parameters tuning chose, per dataset, run and split.

One row per ``tuning.json`` (a tuned run's own study, or the stage its split's LegoBlocks
share, run ``lego_block`` with stage ``shared``): the trials run (and how many completed or
were pruned), the chosen trial, its validation score (``best_val``, the metric named in
``monitor``; the shared stage's is the blocks' mean) and one column per chosen parameter
(every parameter the run used; a run's row also holds the shared stage's values). A
parameter the run was not tuned on is empty.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mmlego.utils.atomic import atomic_path, write_text_atomic

COLUMNS = [
    "dataset",
    "run",
    "split",
    "stage",
    "monitor",
    "trials_requested",
    "trials_run",
    "complete",
    "pruned",
    "chosen_trial",
    "best_val",
]


KEYS = ("stage", "runs", "split", "objective", "trials", "chosen")
CHOSEN_KEYS = ("trial", "value", "params")


def _read(path: str | Path) -> dict[str, Any]:
    """A ``tuning.json`` with the keys the table reads; raises naming the file."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [key for key in KEYS if key not in payload]
        missing += [f"chosen.{key}" for key in CHOSEN_KEYS if key not in payload.get("chosen", {})]
    except (OSError, ValueError, TypeError, AttributeError) as err:
        missing = [repr(err)]
    if missing:
        raise ValueError(
            f"{path}: not a readable tuning.json (missing or unreadable: {', '.join(missing)}); "
            "delete it and rerun the job that writes it"
        )
    return payload


def tuning_row(dataset: str, path: str | Path) -> dict[str, Any]:
    """The table's row of one ``tuning.json`` of ``dataset``."""
    payload = _read(path)
    shared = payload["stage"] == "shared"
    states = [trial.get("state") for trial in payload["trials"]]
    monitors = sorted(set((payload["objective"].get("monitor") or {}).values()))
    chosen = payload["chosen"]
    row = {
        "dataset": dataset,
        "run": "lego_block" if shared else payload["runs"][0],
        "split": int(payload["split"]),
        "stage": payload["stage"],
        "monitor": ("mean " if shared else "") + "/".join(monitors),
        "trials_requested": payload.get("trials_requested"),
        "trials_run": len(states),
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "chosen_trial": chosen["trial"],
        "best_val": chosen["value"],
    }
    return {**row, **chosen["params"]}


def tuning_table(files: Sequence[tuple[str, str | Path]]) -> pd.DataFrame:
    """The table of ``(dataset, tuning.json)`` pairs, sorted by dataset, run and split; the
    parameter columns after the fixed ones, in name order."""
    rows = [tuning_row(dataset, path) for dataset, path in files]
    params = sorted({key for row in rows for key in row} - set(COLUMNS))
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *params])
    # The shared stage first within a dataset and split: its values are fixed in the runs'.
    order = frame["stage"].map({"shared": 0}).fillna(1)
    frame = frame.assign(_order=order).sort_values(["dataset", "_order", "run", "split"])
    return frame.drop(columns="_order").reset_index(drop=True)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def tuning_markdown(frame: pd.DataFrame) -> str:
    """The table in Markdown, with a line on what each column is."""
    params = [c for c in frame.columns if c not in COLUMNS]
    header = ["dataset", "run", "split", "trials (complete/pruned)", "best val", *params]
    lines = [
        "Parameters chosen on the validation patients (the test set is never read). *best "
        "val*: the chosen trial's validation score (for `lego_block`, the shared stage, the "
        "mean over the split's LegoBlocks); a parameter a run was not tuned on is –.",
        "",
        "| " + " | ".join(f"`{c}`" if c in params else c for c in header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for r in frame.to_dict("records"):
        run = f"{r['run']} (shared)" if r["stage"] == "shared" else r["run"]
        trials = f"{r['trials_run']} ({r['complete']}/{r['pruned']})"
        cells = [r["dataset"], run, str(r["split"]), trials, _cell(r["best_val"])]
        cells += [_cell(r[p]) for p in params]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tuning_table(files: Sequence[tuple[str, str | Path]], out_dir: str | Path) -> None:
    """Write ``tuning.csv`` and ``tuning.md`` into ``out_dir`` atomically."""
    frame = tuning_table(files)
    out = Path(out_dir)
    with atomic_path(out / "tuning.csv") as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    write_text_atomic(out / "tuning.md", tuning_markdown(frame))
