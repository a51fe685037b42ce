"""benchmarks/: the anchors adapter (our blocks behind bench_official's interface) and summary.md."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mmlego.models.base import ModalityBatch
from tests.conftest import REPO


@pytest.fixture
def bench(monkeypatch):
    """Import a module of benchmarks/ the way its scripts import each other (folder on sys.path)."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    return importlib.import_module


def test_adapter_reads_the_kind_from_the_anchors_shapes(bench):
    adapter = bench("anchors_adapter")
    assert adapter.kind_of((1, 2914)) == "vector"
    assert adapter.kind_of((1000, 1024)) == "bag"
    assert adapter.kind_of((24, 12)) == "series"


@pytest.mark.parametrize("shape", [(1, 30), (5, 80), (6, 3)])
def test_adapter_block_is_our_block_on_a_fully_present_batch(bench, shape):
    adapter = bench("anchors_adapter")
    torch.manual_seed(0)
    block = adapter.make_block(shape, 4).eval()
    x = torch.randn(3, *shape)
    kind = block.kind
    present = torch.ones(3, dtype=torch.bool)
    if kind == "vector":
        batch = ModalityBatch(x[:, 0], present)
    else:
        batch = ModalityBatch(x, present, torch.ones(3, shape[0], dtype=torch.bool))
    with torch.no_grad():
        assert torch.equal(adapter.block_forward(block, x), block.block({kind: batch}))


def test_adapter_merge_runs_our_merge_and_ot_falls_back_to_slerp(bench):
    adapter = bench("anchors_adapter")
    torch.manual_seed(0)
    blocks = [adapter.make_block((1, 30), 4), adapter.make_block((5, 80), 4)]
    xs = [torch.randn(2, 1, 30), torch.randn(2, 5, 80)]
    merges = {h: adapter.make_merge(blocks, h).eval() for h in ("slerp", "linear", "ot")}
    with torch.no_grad():
        out = {h: adapter.merge_forward(m, xs) for h, m in merges.items()}
    assert out["slerp"].shape == (2, 4)
    assert torch.equal(out["ot"], out["slerp"])
    assert merges["linear"].head_method == "linear"


def test_summary_embeds_the_reports_and_marks_what_is_not_measured(bench, tmp_path):
    summary = bench("summary")
    (tmp_path / "anchors.md").write_text("| case | ratio |\n| --- | --- |\n| ts | 2.0x |\n")
    (tmp_path / "cluster_costs.json").write_text('{"encode": 12.5}')
    path = summary.write_summary(tmp_path, {"encode": "exit code 1, see logs/encode.log"})
    text = path.read_text()
    assert "| ts | 2.0x |" in text
    assert '"encode": 12.5' in text
    assert "Not measured yet (train_loop.md missing" in text
    for title in summary.LATER:  # placeholders carry no figure
        body = text.split(f"## {title}\n\n", 1)[1].split("\n", 1)[0]
        assert body.startswith("Not measured yet") and not any(ch.isdigit() for ch in body)
    assert "- `encode`: exit code 1, see logs/encode.log" in text


def test_adaptive_merge_cox_profile_by_hand(bench):
    """Two patients, z = (−1, 1) after standardising: ll(β) = −log(1 + e^{−2β}) / 2, largest at
    the grid's top β = 4; tied times share one risk set, ll(β) = −log(2 cosh β), largest at 0."""
    am = bench("adaptive_merge")
    time, event = np.array([2.0, 1.0]), np.array([1, 1])
    got = am.cox_profile(np.array([0.0, 1.0]), time, event)
    assert got == pytest.approx(-math.log1p(math.exp(-8.0)) / 2, rel=1e-12)
    tied = am.cox_profile(np.array([0.0, 1.0]), np.array([1.0, 1.0]), event)
    assert tied == pytest.approx(-math.log(2.0), rel=1e-12)
    assert math.isnan(am.cox_profile(np.array([0.0, 1.0]), time, np.array([0, 0])))


def test_adaptive_merge_temperature_profile_and_mix(bench):
    am = bench("adaptive_merge")
    # Even odds: every temperature gives log 2.
    flat = am.temperature_profile(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, 1]))
    assert flat == pytest.approx(-math.log(2.0), rel=1e-12)
    # Right but unsure: the largest scale (10) sharpens p = 0.6 to 0.6^10 / (0.6^10 + 0.4^10).
    sure = am.temperature_profile(np.array([[0.6, 0.4]]), np.array([0]))
    assert sure == pytest.approx(-math.log1p((0.4 / 0.6) ** 10), rel=1e-9)
    # The shrunk λ is a point of the simplex between λ* and equal weights.
    assert am.mix((1.0, 0.0), (0.5, 0.5), 0.25) == pytest.approx((0.625, 0.375))


def test_adaptive_merge_repeats_and_dataset_cut_the_studies(bench, tmp_path):
    """``--repeats`` sets every study's splits, ``--dataset`` keeps only those datasets (a study
    left empty is dropped), and an unknown name or a repeat count below 1 stops the run."""
    am = bench("adaptive_merge")
    default = am.study_configs(tmp_path)
    assert set(default) == {"demo", "cohorts"}
    assert set(default["cohorts"]["datasets"]) == {"gbsg2", "whas500"}
    assert {c["splits"]["repeats"] for c in default.values()} == {5}
    only = am.study_configs(tmp_path, 20, ["gbsg2"])
    assert list(only) == ["cohorts"] and list(only["cohorts"]["datasets"]) == ["gbsg2"]
    assert only["cohorts"]["splits"] == {**default["cohorts"]["splits"], "repeats": 20}
    # 20 splits of every one of GBSG2's runs are the study's targets.
    assert (
        sum("/split19/" in t for t in am.targets(only["cohorts"]))
        == len(am.targets(only["cohorts"])) // 20
    )
    with pytest.raises(SystemExit, match="gbsg3"):
        am.study_configs(tmp_path, None, ["gbsg3"])
    with pytest.raises(SystemExit, match="at least 1"):
        am.study_configs(tmp_path, 0)


def test_adaptive_merge_paired_tests_by_hand(bench):
    """Differences 0.01, −0.02, 0, 0.03: 2 above, 1 below, 1 tie. Sign test: 2 of 3, p = 1.
    Wilcoxon on the untied three (ranks 1, 2, 3; W− = 2): 3 of the 8 sign patterns have a
    smaller sum ≤ 2, so the exact two-sided p is 2 · 3/8 = 0.75."""
    am = bench("adaptive_merge")
    got = am.paired_tests(pd.Series([0.01, -0.02, 0.0, 0.03]))
    assert (got["n_above"], got["n_below"], got["n_tied"]) == (2, 1, 1)
    assert got["sign_p"] == pytest.approx(1.0)
    assert got["wilcoxon_p"] == pytest.approx(0.75)
    assert math.isnan(am.paired_tests(pd.Series([0.0, 0.0]))["wilcoxon_p"])
    lambdas = pd.Series(['{"clinical": 0.1, "tumour": 0.9}', '{"clinical": 0.5, "tumour": 0.5}',
                         "", None])  # fmt: skip
    assert am.block_heavy(lambdas, "tumour") == 1
