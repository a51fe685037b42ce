"""The paper's result tables from the runs' ``metrics.json`` files.

Layout of Table 2: rows are models grouped as in the paper (unimodal tabular, unimodal
image/time series, multimodal), in the model catalogue's order and with its labels, which
name the modalities a run takes (a late fusion of two tables is "SNN+SNN"); columns are datasets, and a cell is the mean ± sample standard
deviation (ddof = 1) of the test metric over the splits, scored on the complete cases (test
patients with every modality of the dataset, whose count per split the header states). Per column the best mean is bold and the
second best underlined (ranked on the printed 3-decimal values, so printed ties share a mark).
A unimodal row such as "SNN (tab)" stands for one run per dataset; when a dataset has several
modalities of that kind (TCGA with separate mut/cnv/rna tables), the run with the best mean
**validation** metric is shown and named in the CSV and in a footnote.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mmlego.data.splits import scheme_label
from mmlego.evaluate.metric_names import LOWER_IS_BETTER, METRICS, PRIMARY_METRIC
from mmlego.models.catalogue import ENTRIES, SECTIONS, TYPE_KIND, model_entry, parse_run

OURS = tuple(e.key for e in ENTRIES if e.ours)
METRIC_NAMES = {
    "c_index": "c-index",
    "c_index_uno": "Uno c-index",
    "ibs": "IBS (lower is better)",
    "auc": "AUC",
    "average_precision": "avg. precision",
    "auc_macro_ovr": "macro AUC (OvR)",
}


@dataclass
class DatasetInfo:
    """What the header rows of a table say about a dataset."""

    name: str
    task: str
    n: int
    modalities: dict[str, str] = field(default_factory=dict)  # name -> type
    # Test patients with every modality (the complete cases scored), over the splits: "55",
    # or "52–55" when the splits differ; "" when unknown.
    complete_test_n: str = ""


def complete_test_n(long: pd.DataFrame, ds: str) -> str:
    """The complete-case test n of dataset ``ds`` in a :func:`load_metrics` table, over splits."""
    n = long.loc[(long["dataset"] == ds) & (long["set"] == "test"), "n"].dropna()
    if n.empty:
        return ""
    low, high = int(n.min()), int(n.max())
    return str(low) if low == high else f"{low}–{high}"


def load_metrics(paths: Iterable[str | Path], scope: str = "complete") -> pd.DataFrame:
    """Long table ``dataset, run, model, modality, split, set, metric, value, n`` (NaN =
    undefined; ``n``: the patients scored) in one scope of :mod:`mmlego.evaluate.cases`:
    ``complete`` (the top-level metrics) or ``available``."""
    rows = []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(
                f"{path}: not a readable metrics.json ({err}); rerun its metrics job"
            ) from err
        for key in ("dataset", "run", "split", "task", "val", "test"):
            if key not in doc:
                raise KeyError(f"{path}: key '{key}' is missing (see docs/contracts.md)")
        scored = doc if scope == "complete" else doc.get(scope)
        if scored is None:
            raise KeyError(f"{path}: key '{scope}' is missing; rerun its metrics job")
        model, modality = parse_run(doc["run"])
        for name in ("val", "test"):
            for metric, value in scored[name].items():
                rows.append(
                    {
                        "dataset": doc["dataset"],
                        "run": doc["run"],
                        "model": model,
                        "modality": modality,
                        "task": doc["task"],
                        "split": int(doc["split"]),
                        "set": name,
                        "metric": metric,
                        "value": float("nan") if value is None else float(value),
                        "n": scored.get("n", {}).get(name),
                        "path": str(path),
                    }
                )
    return pd.DataFrame(rows)


def summarise(long: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std and count over the splits per (dataset, run, set, metric)."""
    grouped = long.groupby(["dataset", "run", "model", "set", "metric"], dropna=False)["value"]
    out = grouped.agg(mean="mean", std=lambda v: v.std(ddof=1), n_splits="count").reset_index()
    modality = long.drop_duplicates("run").set_index("run")["modality"]
    out["modality"] = out["run"].map(modality)
    return out


def section_order() -> list[str]:
    """The table's sections in display order (a unimodal section per modality kind)."""
    kinds = list(dict.fromkeys(TYPE_KIND.values()))
    order: list[str] = []
    for section in SECTIONS.values():
        for name in dict.fromkeys(section.format(kind=kind) for kind in kinds):
            if name not in order:
                order.append(name)
    return order


def run_row(run: str, info: DatasetInfo) -> tuple[str, str]:
    """(section, row label) of a run on a dataset: from the modalities the run takes."""
    model, modality = parse_run(run)
    types = [t for name, t in info.modalities.items() if modality is None or name == modality]
    entry = model_entry(model)
    return entry.section(types), entry.row_label(types)


def pick_on_validation(runs: Sequence[str], val_mean: Mapping[str, float], metric: str) -> str:
    """The run with the best mean validation metric; NaN last, the name breaks ties."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def key(run: str) -> tuple[float, str]:
        value = val_mean.get(run, math.nan)
        return (math.inf if math.isnan(value) else -sign * value, run)

    return min(runs, key=key)


def select_runs(summary: pd.DataFrame, ds: str, info: DatasetInfo, metric: str) -> pd.DataFrame:
    """One run per table row for dataset ``ds``: unimodal rows pick the best on **validation**.

    Columns ``group, row, model, run, selected_from`` (the candidates when a choice was made).
    """
    here = summary[(summary["dataset"] == ds) & (summary["metric"] == metric)]
    val = here[here["set"] == "val"].set_index("run")["mean"].to_dict()
    sections = section_order()
    candidates: dict[tuple[str, str, str], list[str]] = {}
    for entry in ENTRIES:
        for run in sorted(here.loc[here["model"] == entry.key, "run"].unique()):
            group, row = run_row(run, info)
            candidates.setdefault((group, row, entry.key), []).append(run)
    rows = [
        {
            "group": group,
            "row": row,
            "model": model,
            "run": pick_on_validation(runs, val, metric),
            "selected_from": ", ".join(runs) if len(runs) > 1 else "",
        }
        for (group, row, model), runs in sorted(
            candidates.items(), key=lambda item: sections.index(item[0][0])
        )
    ]
    return pd.DataFrame(rows, columns=["group", "row", "model", "run", "selected_from"])


def mark_best(
    values: Sequence[float], lower_is_better: bool = False, decimals: int = 3
) -> list[str]:
    """``"best"``, ``"second"`` or ``""`` per value, on the printed (rounded) values; NaN unmarked."""
    rounded = [math.nan if math.isnan(v) else round(v, decimals) for v in values]
    distinct = sorted({v for v in rounded if not math.isnan(v)}, reverse=not lower_is_better)
    rank = {v: i for i, v in enumerate(distinct[:2])}
    names = ("best", "second")
    return ["" if math.isnan(v) or v not in rank else names[rank[v]] for v in rounded]


@dataclass
class ResultTable:
    """A formatted results table: header rows, grouped body rows, one column per dataset."""

    columns: list[str]
    header: list[tuple[str, list[str]]]  # e.g. ("n", ["436", ...])
    body: (
        pd.DataFrame
    )  # group, row, column, dataset, metric, run, selected_from, mean, std, n_splits, mark
    footnotes: list[str]

    def cell(self, row: str, column: str) -> pd.Series | None:
        """The body record of one cell, or None when the model does not apply."""
        hit = self.body[(self.body["row"] == row) & (self.body["column"] == column)]
        return None if hit.empty else hit.iloc[0]

    def rows(self) -> list[tuple[str, list[str]]]:
        """(group, [row labels]) in display order: sections in order, rows in catalogue order
        (then by label), only rows with at least one cell."""
        sections = section_order()
        order = {e.key: i for i, e in enumerate(ENTRIES)}
        present = self.body.drop_duplicates(["group", "row"])
        models = [parse_run(run)[0] for run in present["run"]]
        keyed = sorted(
            zip(present["group"], present["row"], models, strict=True),
            key=lambda r: (sections.index(r[0]), order[r[2]], r[1]),
        )
        out: dict[str, list[str]] = {}
        for group, row, _ in keyed:
            out.setdefault(group, []).append(row)
        return list(out.items())


def format_value(mean: float, std: float, decimals: int = 3) -> str:
    """``0.712 ± 0.034``; the std is left out when undefined (one split)."""
    if math.isnan(mean):
        return "n/a"
    if math.isnan(std):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def primary_columns(infos: Mapping[str, DatasetInfo]) -> list[tuple[str, str, str]]:
    """(label, dataset, metric): each dataset with its task's primary metric (Table 2)."""
    return [(ds, ds, PRIMARY_METRIC[info.task]) for ds, info in infos.items()]


def secondary_columns(infos: Mapping[str, DatasetInfo]) -> list[tuple[str, str, str]]:
    """(label, dataset, metric): every other metric of each dataset's task."""
    return [
        (f"{ds}: {METRIC_NAMES[m]}", ds, m)
        for ds, info in infos.items()
        for m in METRICS[info.task]
        if m != PRIMARY_METRIC[info.task]
    ]


BODY_COLUMNS = [
    "group",
    "row",
    "column",
    "dataset",
    "metric",
    "run",
    "selected_from",
    "mean",
    "std",
    "n_splits",
    "scheme",
    "mark",
]


def build_table(
    summary: pd.DataFrame,
    infos: Mapping[str, DatasetInfo],
    columns: Sequence[tuple[str, str, str]],
    *,
    splits: Mapping[str, Any] | None = None,
) -> ResultTable:
    """Table 2 layout over ``columns`` = (label, dataset, metric) triples.

    The first footnote says over how many splits the cells average and, given the config's
    ``splits`` section, by which scheme; cells over fewer splits (a failed run) get their own.
    """
    records, footnotes = [], []
    scheme = "" if splits is None else scheme_label(splits)
    for label, ds, metric in columns:
        test = summary[
            (summary["dataset"] == ds) & (summary["set"] == "test") & (summary["metric"] == metric)
        ]
        test = test.set_index("run")
        cells = []
        for rec in select_runs(summary, ds, infos[ds], metric).itertuples():
            found = rec.run in test.index
            cells.append(
                {
                    "group": rec.group,
                    "row": rec.row,
                    "column": label,
                    "dataset": ds,
                    "metric": metric,
                    "run": rec.run,
                    "selected_from": rec.selected_from,
                    "mean": float(test.at[rec.run, "mean"]) if found else math.nan,
                    "std": float(test.at[rec.run, "std"]) if found else math.nan,
                    "n_splits": int(test.at[rec.run, "n_splits"]) if found else 0,
                    "scheme": scheme,
                }
            )
            if rec.selected_from:
                footnotes.append(
                    f"{rec.row}, {label}: {rec.run} (best validation {METRIC_NAMES[metric]} "
                    f"among {rec.selected_from})"
                )
        marks = mark_best([c["mean"] for c in cells], metric in LOWER_IS_BETTER)
        records += [{**c, "mark": m} for c, m in zip(cells, marks, strict=True)]
    header = [("n", [str(infos[ds].n) for _, ds, _ in columns])]
    cases = []
    if any(infos[ds].complete_test_n for _, ds, _ in columns):
        header.append(
            ("test n (complete cases)", [infos[ds].complete_test_n or "–" for _, ds, _ in columns])
        )
        cases.append(
            "scored on the test patients who have every modality of the dataset (complete "
            "cases; 'test n' per split); on every test patient: tables/missing_modality.md"
        )
    header += [
        ("modalities", [", ".join(infos[ds].modalities) for _, ds, _ in columns]),
        ("metric", [METRIC_NAMES[m] for _, _, m in columns]),
    ]
    body = pd.DataFrame(records, columns=BODY_COLUMNS)
    n = int(body["n_splits"].max()) if len(body) else 0
    fewer = [
        f"{r.row}, {r.column}: over {r.n_splits} of {n} splits"
        for r in body.itertuples()
        if 0 < r.n_splits < n
    ]
    over = f"mean ± std over {n} splits" + (f" ({scheme})" if scheme else "")
    return ResultTable([c[0] for c in columns], header, body, [over, *cases, *footnotes, *fewer])


# --------------------------------------------------------------------------- renderers


def _text(
    table: ResultTable,
    row: str,
    column: str,
    bold: tuple[str, str],
    under: tuple[str, str],
    pm: str,
) -> str:
    cell = table.cell(row, column)
    if cell is None:
        return "–"
    text = format_value(cell["mean"], cell["std"]).replace(" ± ", pm)
    if cell["mark"] == "best":
        return f"{bold[0]}{text}{bold[1]}"
    if cell["mark"] == "second":
        return f"{under[0]}{text}{under[1]}"
    return text


def to_markdown(table: ResultTable) -> str:
    """GitHub Markdown: best **bold**, second <u>underlined</u>."""
    lines = ["| | " + " | ".join(table.columns) + " |", "| --- |" + " --- |" * len(table.columns)]
    for name, values in table.header:
        lines.append(f"| *{name}* | " + " | ".join(values) + " |")
    for group, labels in table.rows():
        lines.append(f"| **{group}** |" + " |" * len(table.columns))
        for row in labels:
            cells = [
                _text(table, row, c, ("**", "**"), ("<u>", "</u>"), " ± ") for c in table.columns
            ]
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if table.footnotes:
        text += "\n" + "\n".join(f"- {note}" for note in table.footnotes) + "\n"
    return text


_TEX_ESCAPE = {
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
}


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters in a label."""
    return "".join(_TEX_ESCAPE.get(ch, ch) for ch in text).replace("–", "--")


def to_latex(table: ResultTable, caption: str = "") -> str:
    """A booktabs ``tabular`` fragment: best ``\\textbf``, second ``\\underline``."""
    n = len(table.columns)
    lines = [
        f"% {caption}" if caption else "% results table",
        r"\begin{tabular}{l" + "c" * n + "}",
        r"\toprule",
        " & ".join(["Model", *(tex_escape(c) for c in table.columns)]) + r" \\",
    ]
    for name, values in table.header:
        lines.append(
            " & ".join([rf"\textit{{{tex_escape(name)}}}", *(tex_escape(v) for v in values)])
            + r" \\"
        )
    for group, labels in table.rows():
        lines.append(r"\midrule")
        lines.append(rf"\multicolumn{{{n + 1}}}{{l}}{{\textit{{{tex_escape(group)}}}}} \\")
        for row in labels:
            cells = [
                _text(table, row, c, (r"\textbf{", "}"), (r"\underline{", "}"), r" $\pm$ ").replace(
                    "–", "--"
                )
                for c in table.columns
            ]
            lines.append(" & ".join([tex_escape(row), *cells]) + r" \\")
    lines.append(r"\bottomrule")
    lines += [
        rf"\multicolumn{{{n + 1}}}{{l}}{{\footnotesize {tex_escape(note)}}} \\"
        for note in table.footnotes
    ]
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def to_html(table: ResultTable, title: str = "Test performance, mean ± std over the splits") -> str:
    """A standalone HTML page of the table (for the report): best bold, second underlined."""
    import html

    def esc(text: str) -> str:
        return html.escape(str(text))

    head = "".join(f"<th>{esc(c)}</th>" for c in table.columns)
    rows = [f"<tr><th></th>{head}</tr>"]
    for name, values in table.header:
        rows.append(
            f"<tr class='meta'><td><i>{esc(name)}</i></td>"
            + "".join(f"<td>{esc(v)}</td>" for v in values)
            + "</tr>"
        )
    for group, labels in table.rows():
        rows.append(
            f"<tr class='group'><td colspan='{len(table.columns) + 1}'>{esc(group)}</td></tr>"
        )
        for row in labels:
            cells = [
                _text(table, row, c, ("<b>", "</b>"), ("<u>", "</u>"), " ± ") for c in table.columns
            ]
            rows.append(
                f"<tr><td>{esc(row)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
            )
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.footnotes)
    style = (
        "body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}"
        "td,th{padding:3px 10px;text-align:center}td:first-child{text-align:left}"
        "tr.group td{font-style:italic;border-top:1px solid #333;padding-top:6px}"
        "tr.meta td{color:#555}th{border-bottom:1px solid #333}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{style}</style></head><body><h3>{esc(title)}</h3><table>{''.join(rows)}</table>"
        f"<p>Bold: best per column; underlined: second best.</p><ul>{notes}</ul></body></html>\n"
    )
