"""The study overview page of the report: warnings, cohorts, QC outputs, config and provenance.

One self-contained HTML file (images embedded as base64), shown by ``snakemake --report`` in
its "Study" category. The QC outputs are the ``{ds}/qc/`` files that the other stages register
(cohort exclusion tables, failed/skipped slides, tissue thumbnails).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import yaml

from mmlego.data.kinds import dataset_modalities
from mmlego.data.labels import read_labels

MAX_QC_ROWS = 30
MAX_THUMBNAILS = 12
IMAGE_TYPES = ("wsi", "image")


def _esc(value: Any) -> str:
    return html.escape(str(value))


def weights_warning(config: dict[str, Any]) -> str | None:
    """The loud warning when slides or images were encoded without pretrained weights."""
    if config.get("encoder", {}).get("weights"):
        return None
    affected = [
        f"{ds}.{m.name}"
        for ds, spec in config.get("datasets", {}).items()
        for m in dataset_modalities(spec)
        if m.type in IMAGE_TYPES
    ]
    if not affected:
        return None
    return (
        "NO PRETRAINED ENCODER WEIGHTS: config key 'encoder.weights' is empty, so the patch "
        "encoder was a seeded random initialisation. The features of "
        + ", ".join(affected)
        + " are random projections, not the paper's pretrained ResNet features; results on these "
        "modalities are not comparable to the paper. Set encoder.weights to a torchvision-format "
        "state dict (e.g. Kather-100k) to reproduce it."
    )


def cohort_rows(
    config: dict[str, Any],
    labels: Mapping[str, str | Path],
    stores: Mapping[str, Mapping[str, str | Path]],
) -> pd.DataFrame:
    """One row per dataset: task, patients, outcome balance and per-modality coverage.

    ``labels``: dataset → its labels; ``stores``: dataset → modality → its store.
    """
    present: dict[str, dict[str, str]] = {}
    for ds, by_mod in stores.items():
        for mod, path in by_mod.items():
            with h5py.File(path, "r") as handle:
                flags = np.asarray(handle["present"][:], dtype=bool)
            present.setdefault(ds, {})[mod] = f"{mod} {flags.sum()}/{flags.size}"
    rows = []
    for ds, path in labels.items():
        frame, meta = read_labels(path)
        task = meta.get("task", "")
        if task == "survival":
            outcome = (
                f"{int(frame['event'].sum())} events, {int((frame['event'] == 0).sum())} censored"
            )
        else:
            names = meta.get("classes") or []
            counts = frame["label"].value_counts().sort_index()
            outcome = ", ".join(
                f"{names[i] if i < len(names) else i}: {n}" for i, n in counts.items()
            )
        spec = config.get("datasets", {}).get(ds, {})
        rows.append(
            {
                "dataset": ds,
                "kind": spec.get("kind", ""),
                "task": task,
                "patients": len(frame),
                "outcome": outcome,
                "modalities (patients present)": ", ".join(present.get(ds, {}).values()),
            }
        )
    return pd.DataFrame(rows)


def _table_html(frame: pd.DataFrame, limit: int | None = None) -> str:
    shown = frame if limit is None else frame.head(limit)
    head = "".join(f"<th>{_esc(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    more = (
        f"<p class='note'>{len(frame) - len(shown)} more rows in the CSV.</p>"
        if len(frame) > len(shown)
        else ""
    )
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def qc_files(
    paths: Sequence[tuple[str, str | Path]],
) -> tuple[list[tuple[str, Path]], dict[tuple[str, str], list[Path]]]:
    """QC tables (CSV) and images (PNG) among ``paths`` = (dataset, file or directory searched):
    the tables with their dataset, the images by (dataset, QC name)."""
    tables, images = [], {}
    for ds, raw in paths:
        path = Path(raw)
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        tables += [(ds, p) for p in found if p.suffix == ".csv" and p.is_file()]
        pngs = [p for p in found if p.suffix == ".png" and p.is_file()]
        if pngs:
            images.setdefault((ds, path.name), []).extend(pngs)
    return tables, images


def reason_counts(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Patients per (modality, reason) of a per-patient QC table such as ``qc/tables.csv``.

    None for an empty table or one of another layout.
    """
    if frame.empty or not {"patient_id", "modality", "reason"} <= set(frame.columns):
        return None
    counts = frame.groupby(["modality", "reason"], sort=True).size()
    return counts.rename("patients").reset_index()


def _thumbnail(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{_esc(path.name)}'>"
        f"<figcaption>{_esc(path.stem)}</figcaption></figure>"
    )


STYLE = """
body{font-family:sans-serif;font-size:14px;margin:1em 2em;color:#222}
h2{border-bottom:1px solid #999;padding-bottom:2px;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f0f0f0}.warning{background:#b00020;color:#fff;padding:12px 16px;font-weight:bold;
font-size:15px;border-radius:4px}.ok{background:#e6f4ea;padding:8px 12px;border-radius:4px}
pre{background:#f7f7f7;padding:8px;font-size:12px;max-height:30em;overflow:auto}
figure{display:inline-block;margin:4px;text-align:center}img{max-width:180px;max-height:180px;
border:1px solid #ccc}figcaption{font-size:11px;max-width:180px;overflow-wrap:anywhere}.note{color:#666}
"""


def overview_html(
    resolved_config: str | Path,
    labels: Mapping[str, str | Path],
    stores: Mapping[str, Mapping[str, str | Path]],
    qc: Sequence[tuple[str, str | Path]],
) -> str:
    """The overview page as one HTML string (arguments as in :func:`cohort_rows` and
    :func:`qc_files`)."""
    doc = yaml.safe_load(Path(resolved_config).read_text(encoding="utf-8")) or {}
    record = doc.pop("provenance", {})
    # The page must not change between two runs of the same study (the YAML keeps the time).
    record.pop("created_utc", None)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Study overview</title>",
        f"<style>{STYLE}</style></head><body><h1>Study overview</h1>",
    ]
    warning = weights_warning(doc)
    if warning:
        parts.append(f"<div class='warning'>&#9888; {_esc(warning)}</div>")
    else:
        parts.append(
            "<div class='ok'>Encoder weights: "
            + _esc(doc.get("encoder", {}).get("weights") or "not needed (no image modality)")
            + "</div>"
        )
    parts.append("<h2>Cohorts</h2>" + _table_html(cohort_rows(doc, labels, stores)))
    tables, images = qc_files(qc)
    parts.append("<h2>Quality control</h2>")
    if not tables and not images:
        parts.append(
            "<p class='note'>No QC outputs were registered by the stages of this study.</p>"
        )
    for ds, path in tables:
        # As text: the QC tables hold ids, shown exactly as written (``0001`` stays ``0001``).
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        parts.append(f"<h3>{_esc(ds)} / {_esc(path.name)} ({len(frame)} rows)</h3>")
        counts = reason_counts(frame)
        if counts is not None:
            parts.append(_table_html(counts))
        parts.append(_table_html(frame, MAX_QC_ROWS))
    for (ds, name), pngs in images.items():
        shown = pngs[:MAX_THUMBNAILS]
        parts.append(
            f"<h3>Tissue masks and patch grids: {_esc(ds)} / {_esc(name)} "
            f"({len(shown)} of {len(pngs)})</h3>"
        )
        parts.append("".join(_thumbnail(p) for p in shown))
    parts.append("<h2>Config (resolved, defaults filled in)</h2>")
    parts.append(f"<pre>{_esc(yaml.safe_dump(doc, sort_keys=False))}</pre>")
    parts.append("<h2>Provenance</h2>")
    parts.append(f"<pre>{_esc(yaml.safe_dump(record, sort_keys=False))}</pre>")
    parts.append("</body></html>\n")
    return "".join(parts)
