"""Tables: mean ± std, best/second marks, validation-based selection, LaTeX and paired comparison."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmlego.cli import main
from mmlego.config import fill_defaults
from mmlego.evaluate.compare import (
    compare_with_paper,
    paired_comparison,
    paired_markdown,
    paper_table2,
)
from mmlego.evaluate.table_files import paper_markdown
from mmlego.evaluate.tables import (
    DatasetInfo,
    build_table,
    load_metrics,
    mark_best,
    primary_columns,
    secondary_columns,
    summarise,
    to_html,
    to_latex,
    to_markdown,
)
from mmlego.predictions import read_predictions
from mmlego.predictions import write_predictions as write_package_predictions
from tests.evaluate_fixtures import (
    classification_study,
    store_args,
    survival_study,
    write_metrics,
)

INFOS = {
    "blca": DatasetInfo(
        "blca", "survival", 436, {"slides": "wsi", "mut": "tabular", "cnv": "tabular"}
    ),
    "icd9": DatasetInfo("icd9", "binary", 300, {"static": "tabular", "vitals": "timeseries"}),
}
# test c-index per split; val chosen to disagree with test for the SNN modality choice
BLCA = {
    "snn.mut": ([0.60, 0.62, 0.64], [0.70, 0.70, 0.70]),
    "snn.cnv": ([0.80, 0.80, 0.80], [0.50, 0.50, 0.50]),
    "abmil.slides": ([0.55, 0.60, 0.65], [0.6, 0.6, 0.6]),
    "lego_block.slides": ([0.58, 0.58, 0.58], [0.6, 0.6, 0.6]),
    "lego_merge": ([0.66, 0.70, 0.74], [0.6, 0.6, 0.6]),
    "lego_fuse": ([0.70, 0.72, 0.74], [0.6, 0.6, 0.6]),
}


def _hand_study(root):
    paths = []
    for run, (test, val) in BLCA.items():
        for k in range(3):
            paths.append(
                write_metrics(
                    root,
                    "blca",
                    run,
                    k,
                    "survival",
                    {"c_index": val[k], "c_index_uno": val[k], "ibs": 0.2},
                    {"c_index": test[k], "c_index_uno": test[k], "ibs": 0.1 + 0.01 * k},
                )
            )
    for run, auc in {
        "snn.static": 0.7,
        "abmil.vitals": 0.65,
        "lego_merge": 0.72,
        "lego_fuse": 0.72,
    }.items():
        for k in range(3):
            paths.append(
                write_metrics(
                    root,
                    "icd9",
                    run,
                    k,
                    "binary",
                    {"auc": auc, "average_precision": None},
                    {"auc": auc, "average_precision": 0.3},
                )
            )
    return paths


def test_mean_std_and_marks_on_a_hand_fixture(tmp_path):
    summary = summarise(load_metrics(_hand_study(tmp_path)))
    table = build_table(summary, INFOS, primary_columns(INFOS))
    merge = table.cell("LegoMerge", "blca")
    assert merge["mean"] == pytest.approx(0.70) and merge["std"] == pytest.approx(0.04)  # ddof = 1
    assert table.cell("LegoFuse", "blca")["mark"] == "best"
    assert merge["mark"] == "second"
    # icd9: LegoMerge and LegoFuse tie at 0.720: both bold; SNN (0.700) is second
    assert (
        table.cell("LegoMerge", "icd9")["mark"] == "best" == table.cell("LegoFuse", "icd9")["mark"]
    )
    assert table.cell("SNN (tab)", "icd9")["mark"] == "second"
    assert table.cell("HEALNet", "blca") is None


def test_unimodal_row_is_chosen_on_validation_not_test(tmp_path):
    summary = summarise(load_metrics(_hand_study(tmp_path)))
    table = build_table(summary, INFOS, primary_columns(INFOS))
    snn = table.cell("SNN (tab)", "blca")
    # snn.cnv has the better test mean (0.80) but the worse validation mean: snn.mut is shown
    assert snn["run"] == "snn.mut" and snn["mean"] == pytest.approx(0.62)
    assert any("snn.mut" in note and "snn.cnv" in note for note in table.footnotes)


def test_lower_is_better_metrics_mark_the_smallest():
    assert mark_best([0.2, 0.1, 0.3], lower_is_better=True) == ["second", "best", ""]
    assert mark_best([0.7004, 0.7001, np.nan, 0.5]) == ["best", "best", "", "second"]


def test_markdown_and_latex_render_marks_and_balance(tmp_path):
    summary = summarise(load_metrics(_hand_study(tmp_path)))
    table = build_table(summary, INFOS, primary_columns(INFOS))
    md = to_markdown(table)
    assert "| LegoFuse | **0.720 ± 0.020** | **0.720 ± 0.000** |" in md
    assert "<u>0.700 ± 0.040</u>" in md
    assert "| *n* | 436 | 300 |" in md
    tex = to_latex(table, "caption")
    assert tex.count("{") == tex.count("}")
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert r"\textbf{0.720 $\pm$ 0.020}" in tex and r"\underline{0.700 $\pm$ 0.040}" in tex
    body = [ln for ln in tex.splitlines() if ln.endswith(r"\\") and "multicolumn" not in ln]
    assert body and all(ln.count("&") == len(table.columns) for ln in body)


def test_every_format_states_the_number_of_splits_and_the_scheme(tmp_path):
    paths = _hand_study(tmp_path)
    missing = tmp_path / "blca" / "lego_merge" / "split2" / "metrics.json"
    summary = summarise(load_metrics([p for p in paths if p != missing]))
    cv = {"scheme": "cv", "folds": 3, "repeats": 1}
    table = build_table(summary, INFOS, primary_columns(INFOS), splits=cv)
    note = "mean ± std over 3 splits (3-fold cv × 1 repeat)"
    assert table.footnotes[0] == note
    assert table.footnotes[-1] == "LegoMerge, blca: over 2 of 3 splits"
    assert f"- {note}" in to_markdown(table)
    assert f"<li>{note}</li>" in to_html(table)
    tex = to_latex(table)
    assert r"\footnotesize mean $\pm$ std over 3 splits (3-fold cv $\times$ 1 repeat)} \\" in tex
    assert tex.index(r"\footnotesize") > tex.index(r"\bottomrule")
    assert set(table.body["scheme"]) == {"3-fold cv × 1 repeat"}  # the CSV's column
    assert table.cell("LegoMerge", "blca")["n_splits"] == 2


def test_secondary_table_marks_ibs_lower_is_better(tmp_path):
    summary = summarise(load_metrics(_hand_study(tmp_path)))
    table = build_table(summary, INFOS, secondary_columns(INFOS))
    assert table.columns == [
        "blca: Uno c-index",
        "blca: IBS (lower is better)",
        "icd9: avg. precision",
    ]
    ibs = table.body[table.body["column"] == "blca: IBS (lower is better)"]
    assert set(ibs["mean"].round(6)) == {0.11}  # every run ties
    assert (ibs["mark"] == "best").all()


def test_paired_comparison_picks_the_baseline_on_validation(tmp_path):
    survival_study(
        tmp_path / "tcga",
        n=90,
        runs={"lego_merge": 5.0, "snn.omics": 0.3, "abmil.slides": 0.2},
        repeats=3,
    )
    files = []
    for run in ("lego_merge", "snn.omics", "abmil.slides"):
        for k in range(3):
            out = tmp_path / "tcga" / run / f"split{k}" / "metrics.json"
            argv = [
                "metrics",
                "--predictions",
                str(out.with_name("predictions.parquet")),
                "--labels",
                str(tmp_path / "tcga" / "labels.parquet"),
                "--splits",
                str(tmp_path / "tcga" / "splits.json"),
                *store_args(tmp_path / "tcga"),
                "--split",
                str(k),
                "--out",
                str(out),
            ]
            assert main(argv) == 0
            files.append(out)
    long = load_metrics(files)
    long["predictions"] = long["path"].map(
        {str(f): f.with_name("predictions.parquet") for f in files}
    )
    frame = paired_comparison(long, 200, 0, {"tcga": "survival"})
    row = frame.iloc[0]
    val = (
        long[(long["set"] == "val") & (long["metric"] == "c_index")].groupby("run")["value"].mean()
    )
    assert row["baseline"] == val.drop("lego_merge").idxmax()
    test = long[(long["set"] == "test") & (long["metric"] == "c_index")].pivot(
        index="split", columns="run", values="value"
    )
    assert row["mean_difference"] == pytest.approx(
        (test["lego_merge"] - test[row["baseline"]]).mean()
    )
    assert row["ci_low"] < row["mean_difference"] < row["ci_high"]
    assert row["ci_low"] > 0  # a strong model against weak baselines
    again = paired_comparison(long, 200, 0, {"tcga": "survival"})
    pd.testing.assert_frame_equal(frame, again)  # seeded bootstrap


def _scored(root: Path, runs: list[str], repeats: int) -> pd.DataFrame:
    """The long metrics of ``runs`` scored by ``mmlego metrics``, with their predictions paths."""
    files = []
    for run in runs:
        for k in range(repeats):
            out = root / run / f"split{k}" / "metrics.json"
            argv = ["metrics", "--predictions", str(out.with_name("predictions.parquet"))]
            argv += [
                "--labels",
                str(root / "labels.parquet"),
                "--splits",
                str(root / "splits.json"),
            ]
            argv += store_args(root)
            assert main([*argv, "--split", str(k), "--out", str(out)]) == 0
            files.append(out)
    long = load_metrics(files)
    long["predictions"] = long["path"].map(
        {str(f): f.with_name("predictions.parquet") for f in files}
    )
    return long


def test_paired_comparison_with_the_classical_run_best_on_validation_not_on_test(tmp_path):
    root = tmp_path / "tcga"
    runs = {"lego_merge": 3.0, "snn.omics": 0.3, "coxnet": 3.0, "gbm": 1.0}
    survival_study(root, n=90, runs=runs, repeats=3)
    # coxnet ranks the test patients backwards: best on validation, worst on test.
    for k in range(3):
        path = root / "coxnet" / f"split{k}" / "predictions.parquet"
        preds = read_predictions(path)
        test = preds.subset("test")
        preds.frame.loc[test, "risk"] = -preds.frame.loc[test, "risk"]
        write_package_predictions(path, preds.frame, preds.meta)
    long = _scored(root, list(runs), 3)
    c_index = long[long["metric"] == "c_index"].groupby(["set", "run"])["value"].mean()
    assert c_index["val"]["coxnet"] > max(c_index["val"]["gbm"], c_index["val"]["snn.omics"])
    assert c_index["test"]["gbm"] > c_index["test"]["coxnet"]  # the test would pick gbm

    frame = paired_comparison(long, 50, 0, {"tcga": "survival"})
    assert frame[["model", "versus", "baseline"]].values.tolist() == [
        ["lego_merge", "baseline", "snn.omics"],  # the deep baselines' pool holds no coxnet
        ["lego_merge", "classical", "coxnet"],
    ]
    row = frame.set_index("versus").loc["classical"]
    test = long[(long["set"] == "test") & (long["metric"] == "c_index")].pivot(
        index="split", columns="run", values="value"
    )
    assert row["mean_difference"] == pytest.approx((test["lego_merge"] - test["coxnet"]).mean())
    assert row["splits_won"] == 3 and row["ci_low"] > 0
    md = paired_markdown(frame)
    assert "| tcga | lego_merge | classical | coxnet |" in md


def test_paper_values_and_comparison():
    paper, source = paper_table2()
    assert "2405.19950" in source and paper.at["LegoFuse", "kirp"] == pytest.approx(0.863)
    body = pd.DataFrame(
        [
            {"row": "LegoMerge", "dataset": "icd9", "mean": 0.70, "std": 0.01},
            {"row": "LegoMerge", "dataset": "mine", "mean": 0.9, "std": 0.0},
        ]
    )
    frame = compare_with_paper(body)
    assert len(frame) == 1 and frame.iloc[0]["difference"] == pytest.approx(0.70 - 0.684)


def _cell_counts(markdown: str) -> list[int]:
    """The number of cells of every table line of a Markdown document."""
    return [
        len(line.strip().strip("|").split("|"))
        for line in markdown.splitlines()
        if line.startswith("|")
    ]


@pytest.mark.parametrize("datasets", [["icd9", "isic"], ["mine"]])
def test_paper_comparison_markdown_is_a_valid_table(datasets):
    # A study with no paper dataset used to get a header of two cells over a one-cell rule.
    body = pd.DataFrame(
        [{"row": "LegoMerge", "dataset": d, "mean": 0.7, "std": 0.01} for d in datasets]
    )
    frame = compare_with_paper(body)
    counts = _cell_counts(paper_markdown(frame, "the paper"))
    if frame.empty:
        assert counts == []
    else:
        assert counts == [1 + len(datasets)] * (2 + frame["row"].nunique())


def test_tables_cli_writes_every_format(tmp_path):
    classification_study(
        tmp_path / "icd9",
        n_classes=2,
        n=60,
        runs={"lego_merge": 2.0, "snn.static": 1.0, "lego_fuse": 2.5},
        repeats=2,
    )
    files = []
    for run in ("lego_merge", "snn.static", "lego_fuse"):
        for k in range(2):
            out = tmp_path / "icd9" / run / f"split{k}" / "metrics.json"
            assert (
                main(
                    [
                        "metrics",
                        "--predictions",
                        str(out.with_name("predictions.parquet")),
                        "--labels",
                        str(tmp_path / "icd9" / "labels.parquet"),
                        "--splits",
                        str(tmp_path / "icd9" / "splits.json"),
                        *store_args(tmp_path / "icd9"),
                        "--split",
                        str(k),
                        "--out",
                        str(out),
                    ]
                )
                == 0
            )
            files.append(str(out))
    config = {
        "splits": {"repeats": 2},
        "evaluate": {"bootstrap": 20},
        "datasets": {
            "icd9": {"kind": "mimic", "task": "binary", "mimic_dir": "x", "target": "icd9"}
        },
    }
    argv = [
        "tables",
        "--metrics",
        *files,
        "--predictions",
        *(str(Path(f).with_name("predictions.parquet")) for f in files),
        "--labels",
        f"icd9={tmp_path / 'icd9' / 'labels.parquet'}",
        *store_args(tmp_path / "icd9", "icd9"),
        "--cfg",
        json.dumps(config),
        "--seed",
        "0",
        "--out-dir",
        str(tmp_path / "tables"),
    ]
    assert main(argv) == 0
    names = sorted(p.name for p in (tmp_path / "tables").iterdir())
    expected = [f"{s}.{e}" for s in ("table2", "secondary", "paired") for e in ("csv", "md", "tex")]
    extra = ["metrics_long.csv", "table2.html", "missing_modality.csv", "missing_modality.md"]
    assert names == sorted([*expected, *extra])
    assert "<b>" in (tmp_path / "tables" / "table2.html").read_text()
    note = "mean ± std over 2 splits (holdout train/val/test 0.7/0.15/0.15 × 2 repeats)"
    for name in ("table2.md", "table2.html", "secondary.md"):
        assert note in (tmp_path / "tables" / name).read_text()
    assert (
        r"over 2 splits (holdout train/val/test 0.7/0.15/0.15 $\times$ 2 repeats)"
        in (tmp_path / "tables" / "table2.tex").read_text()
    )
    study = fill_defaults(copy.deepcopy(config))
    csv = pd.read_csv(tmp_path / "tables" / "table2.csv")
    assert set(csv["n_splits"]) == {2} and set(csv["scheme"]) == {note[note.index("(") + 1 : -1]}
    out = tmp_path / "tables" / "paper_comparison.csv"
    argv = [
        "paper-comparison",
        "--table2",
        str(tmp_path / "tables" / "table2.csv"),
        "--out-csv",
        str(out),
        "--out-md",
        str(out.with_suffix(".md")),
        "--cfg",
        json.dumps({key: study[key] for key in ("lego", "encoder", "tune", "train", "splits")}),
    ]
    assert main(argv) == 0
    compared = pd.read_csv(out)
    assert set(compared["row"]) == {"LegoMerge", "LegoFuse", "SNN (tab)"}
    assert "2405.19950" in out.with_suffix(".md").read_text()
    assert "- Attention head width dim_head = 16;" in out.with_suffix(".md").read_text()
    md = (tmp_path / "tables" / "table2.md").read_text()
    assert re.search(r"\| LegoFuse \| \*\*[01]\.\d{3} ± 0\.\d{3}\*\* \|", md)
    paired = pd.read_csv(tmp_path / "tables" / "paired.csv")
    assert (
        set(paired["model"]) == {"lego_merge", "lego_fuse"}
        and (paired["baseline"] == "snn.static").all()
    )
