"""benchmarks/job_costs.py: per-rule costs from hand-written snakemake benchmark files."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("job_costs", REPO / "benchmarks" / "job_costs.py")
job_costs = importlib.util.module_from_spec(_spec)
sys.modules["job_costs"] = job_costs
_spec.loader.exec_module(job_costs)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, wall, rss, load, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t{load}\t{cpu}\n")


def test_groups_jobs_by_rule_and_dataset_with_known_statistics(tmp_path):
    _bench(tmp_path / "train/icd9/snn.static/split0.tsv", 10.0, 500, 2.0, 4.0)
    _bench(tmp_path / "train/icd9/abmil.vitals/split1.tsv", 30.0, 700, 4.0, 6.0)
    _bench(tmp_path / "train/icd9/healnet/split2.tsv", 20.0, 600, 3.0, 11.0)
    _bench(tmp_path / "tcga/features/slides/shard3.tsv", 50.0, 900, 1.0, 40.0)
    _bench(tmp_path / "tcga/features/slides/TCGA-AB-0001.tsv", 5.0, 800, 1.0, 4.5)
    _bench(tmp_path / "_mimic/mimic-iii-0123.tsv", 7.0, 200, 1.0, 6.5)
    _bench(tmp_path / "tcga/tables.tsv", 1.0, 100, 1.0, 0.5)
    # A batch_splits job: every split of one run.
    _bench(tmp_path / "train/icd9/lego_block.vitals/splits.tsv", 12.0, 650, 1.0, 9.0)
    # The other per-split rules, one job per split or batched.
    _bench(tmp_path / "lego_merge_adaptive/tcga/split0.tsv", 3.0, 300, 1.0, 2.5)
    _bench(tmp_path / "logistic/icd9/splits.tsv", 8.0, 400, 1.0, 7.5)
    _bench(tmp_path / "coxnet/tcga/splits.tsv", 9.0, 410, 1.0, 8.5)
    _bench(tmp_path / "merge_ablation/tcga/splits.tsv", 6.0, 500, 1.0, 5.5)
    # A step with no pattern of its own: named after its folders.
    _bench(tmp_path / "new_step/tcga/split1.tsv", 3.0, 300, 1.0, 2.5)
    summary = job_costs.summarise(tmp_path)
    assert set(summary) == {
        "merge_adaptive (tcga)",
        "classical, all splits (icd9)",
        "classical, all splits (tcga)",
        "merge_ablation, all splits (tcga)",
        "new_step (tcga)",
        "train (icd9)",
        "encode_shard (tcga)",
        "encode_slide (tcga)",
        "mimic_extract",
        "read_tables_tcga",
        "train, all splits (icd9)",
    }
    train = summary["train (icd9)"]
    assert train["jobs"] == 3
    assert (train["wall_s_median"], train["wall_s_max"]) == (20.0, 30.0)
    assert (train["cpu_s_median"], train["cpu_s_total"]) == (6.0, 21.0)
    assert train["max_rss_mb"] == 700 and train["mean_load"] == pytest.approx(3.0)
    batched = summary["train, all splits (icd9)"]
    assert (batched["jobs"], batched["cpu_s_total"], batched["max_rss_mb"]) == (1, 9.0, 650)
    table = job_costs.format_table(summary)
    assert "| `train (icd9)` | 3 | 20.0 / 30.0 | 6.0 / 21 | 700 |" in table


def test_a_file_of_no_rule_is_an_error(tmp_path):
    _bench(tmp_path / "somewhere/else.tsv", 1.0, 1, 1.0, 1.0)
    with pytest.raises(ValueError, match="not a benchmark path of any rule"):
        job_costs.summarise(tmp_path)
