"""The outputs fit the study (issue 20 item 5): real snakemake runs of a generic study and of the
demo's config.

A study without a dataset of a kind the paper studied (tcga, mimic, isic) makes no comparison
with the paper's Table 2; the toy interference figures follow ``evaluate.toy_figures`` (default:
the same rule). Every Markdown table a run writes parses.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import demo_study, run_snakemake
from tests.evaluate_fixtures import classification_study
from tests.markdown_tables import table_count, table_problems

pytestmark = pytest.mark.slow

N = 40
PAPER_FILES = ("tables/paper_comparison.csv", "tables/paper_comparison.md")
TOY_FILES = (
    "figures/fig4_interference_latent.png",
    "figures/fig5_interference_waves.png",
    "figures/interference_toy.json",
)


def _generic_study(root) -> dict:
    """A survival study of two tabular modalities (one with a categorical column)."""
    rng = np.random.default_rng(2)
    ids = [f"pt{i:02d}" for i in range(N)]
    risk = rng.normal(size=N)
    pd.DataFrame(
        {"pid": ids, "months": np.exp(-risk) * 20 + 1, "dead": rng.integers(0, 2, N)}
    ).to_csv(root / "labels.csv", index=False)
    pd.DataFrame({"pid": ids, "age": 60 + 5 * risk + rng.normal(size=N)}).to_csv(
        root / "clinical.csv", index=False
    )
    grade = np.where(risk > 0, "high", "low")
    pd.DataFrame({"pid": ids, "size": risk + rng.normal(size=N), "grade": grade}).to_csv(
        root / "tumour.csv", index=False
    )
    modalities = {
        name: {"type": "tabular", "path": str(root / f"{name}.csv"), "id": "pid"}
        for name in ("clinical", "tumour")
    }
    labels = {"path": str(root / "labels.csv"), "id": "pid", "time": "months", "event": "dead"}
    return {
        "output_dir": str(root / "out"),
        "device": "cpu",
        "splits": {"repeats": 1},
        "datasets": {
            "mine": {"kind": "generic", "task": "survival", "labels": labels,
                     "modalities": modalities}
        },
        "models": ["lego_block", "lego_merge"],
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "train": {"epochs": 2, "batch_size": 8, "patience": 2},
        "evaluate": {"bootstrap": 20},
    }  # fmt: skip


def _write(config: dict, path) -> str:
    path.write_text(yaml.safe_dump(config))
    return str(path)


def planned_rules(*args: str, cwd) -> set[str]:
    """The rules of the jobs a dry run of the default target plans."""
    # The local profile is quiet about rules; --quiet host lists every job again.
    result = run_snakemake("-n", "--cores", "1", "--quiet", "host", *args, cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return set(re.findall(r"^rule (\w+):", result.stdout, flags=re.M))


def assert_markdown_tables_parse(tables) -> list[str]:
    """Every .md under ``tables`` is valid Markdown with at least one table (or, for the paper
    comparison of a study with no row in the paper, one sentence); returns the file names."""
    names = sorted(p.name for p in tables.glob("*.md"))
    assert names, f"no .md table in {tables}"
    for name in names:
        text = (tables / name).read_text()
        assert table_problems(text) == [], (name, table_problems(text), text)
        assert table_count(text) >= 1 or name == "paper_comparison.md", (name, text)
    return names


def test_a_generic_study_makes_no_paper_outputs_and_no_toy_figures(tmp_path):
    config = _write(_generic_study(tmp_path), tmp_path / "study.yaml")
    out = tmp_path / "out"
    result = run_snakemake("--cores", "2", "--configfile", config, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "paper_comparison" not in result.stderr and "interference_toy" not in result.stderr
    for name in (*PAPER_FILES, *TOY_FILES):
        assert not (out / name).exists(), name
    # The study's own tables: Table 2, the secondary metrics, the paired comparison (with no
    # baseline in this study, a header alone; the demo-like test below has rows), the
    # missing-modality table and the merge ablation.
    assert assert_markdown_tables_parse(out / "tables") == [
        "merge_ablation.md", "missing_modality.md", "paired.md", "secondary.md", "table2.md",
    ]  # fmt: skip
    assert "LegoMerge" in (out / "tables" / "table2.md").read_text()

    # The report collects what the study made, and nothing it did not make.
    report = out / "report.html"
    made = run_snakemake("--configfile", config, "--report", str(report), cwd=tmp_path)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert report.stat().st_size > 100_000
    html = report.read_text()
    assert "Table 2 (main results)" in html and "Kaplan-Meier risk groups" in html
    assert "Comparison with the paper" not in html and "Fig. 4 (additive inverse)" not in html

    # Asked for, the toy figures join a generic study; the paper comparison still does not.
    config = _write({**_generic_study(tmp_path), "evaluate": {"toy_figures": True}},
                    tmp_path / "toy.yaml")  # fmt: skip
    rules = planned_rules("--configfile", config, cwd=tmp_path)
    assert "interference_toy" in rules and "paper_comparison" not in rules


def test_the_demo_config_makes_the_paper_outputs_and_the_toy_figures(tmp_path):
    """The demo's config (one MIMIC-like dataset) plans both; a real run of both rules on
    hand-made predictions writes a paper comparison whose Markdown parses. (The switch
    ``evaluate.toy_figures: false`` is covered by tests/unit/test_study_outputs.py.)"""
    out = tmp_path / "out"
    config = demo_study(out)
    config["datasets"] = {"icd9": config["datasets"]["icd9"]}
    config["models"] = ["lego_block", "lego_merge", "snn"]
    config["splits"]["repeats"] = 1
    config["evaluate"]["bootstrap"] = 20
    config["evaluate"]["unpaired"]["enabled"] = False
    path = _write(config, tmp_path / "study.yaml")
    rules = planned_rules("--configfile", path, cwd=tmp_path)
    assert {"paper_comparison", "interference_toy"} <= rules

    runs = {"lego_block.static": 1.0, "lego_block.vitals": 0.8, "lego_merge": 1.6,
            "snn.static": 0.9}  # fmt: skip
    # No fixture stores: the workflow's own (real) stores are the ones its jobs read.
    classification_study(out / "icd9", n_classes=2, n=80, runs=runs, repeats=1, stores=False)
    result = run_snakemake(
        *(str(out / name) for name in (*PAPER_FILES, *TOY_FILES)),
        "--cores", "2", "--configfile", path,
        "--allowed-rules", "metrics", "tables", "paper_comparison", "interference_toy",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    names = assert_markdown_tables_parse(out / "tables")
    assert names == [
        "missing_modality.md", "paired.md", "paper_comparison.md", "secondary.md", "table2.md",
    ]  # fmt: skip
    paper = pd.read_csv(out / "tables" / "paper_comparison.csv")
    # The paper's ICD9 column has LegoBlock, LegoMerge and SNN rows: each is compared.
    assert set(paper["dataset"]) == {"icd9"} and {"LegoMerge", "SNN (tab)"} <= set(paper["row"])
    assert "| LegoMerge |" in (out / "tables" / "paper_comparison.md").read_text()
