"""The merge ablation: variants from cached latents equal the full merges; the table's means."""

from __future__ import annotations

import json
import math

import pytest

from mmlego.cli import main
from mmlego.evaluate.merge_ablation import ablation_markdown, ablation_table, read_ablation
from mmlego.models.merge import LegoMerge
from mmlego.studies.merge_ablation import merge_ablation_run
from mmlego.train.combine import load_blocks, set_metric
from mmlego.train.run import train_run
from tests.unit.splitdata import TINY_LEGO, TINY_TRAIN, make_split

MERGE = {"magnitude": "harmonic", "phase": "circular", "head": "slerp", "eps": 1e-8}


def test_every_variant_equals_its_own_merge_and_the_table_averages_the_splits(tmp_path):
    data = make_split("binary", n=60, absent={"img": [50, 51, 52], "tab": [53, 54]})
    cfg = {"lego": TINY_LEGO, "train": {**TINY_TRAIN, "epochs": 2}}
    paths = {}
    for modality in ("tab", "img"):
        out = tmp_path / f"lego_block.{modality}"
        train_run(data, run=f"lego_block.{modality}", dataset="toy", split=0, cfg=cfg,
                  out_dir=out, provenance={})  # fmt: skip
        paths[modality] = out / "model.pt"
    first = tmp_path / "toy" / "merge_ablation" / "split0.json"
    payload = merge_ablation_run(data, block_paths=paths, cfg={"merge": MERGE}, dataset="toy",
                                 split=0, out=first, provenance={})  # fmt: skip
    assert len(payload["rows"]) == 2 * 3 * 3 * 2 and payload["default"]["phase"] == "circular"
    blocks, _, _ = load_blocks(paths, data)
    for row in payload["rows"]:
        if (row["magnitude"], row["head"]) not in {("harmonic", "slerp"), ("sum", "linear")}:
            continue
        merged = LegoMerge(blocks, magnitude=row["magnitude"], phase=row["phase"], head=row["head"])
        # Scored on the complete cases, like Table 2.
        expected = set_metric(merged, data, row["set"], require=("tab", "img"))
        assert row["value"] == pytest.approx(expected, abs=1e-6), row
    # A second split whose every value is 0.1 lower: means drop 0.05, std 0.1 / sqrt(2).
    doc = json.loads(first.read_text())
    doc["split"] = 1
    for row in doc["rows"]:
        row["value"] -= 0.1
    second = first.with_name("split1.json")
    second.write_text(json.dumps(doc))
    table = ablation_table(*read_ablation([first, second])).set_index(
        ["magnitude", "phase", "head"]
    )
    default = next(r for r in payload["rows"] if r["set"] == "test"
                   and (r["magnitude"], r["phase"], r["head"]) == ("harmonic", "circular", "slerp"))  # fmt: skip
    row = table.loc[("harmonic", "circular", "slerp")]
    assert row["test_mean"] == pytest.approx(default["value"] - 0.05)
    assert row["test_std"] == pytest.approx(0.1 / math.sqrt(2)) and row["n_splits"] == 2
    assert bool(row["default"]) and table["default"].sum() == 1
    assert row["n_test"] == str(payload["n"]["test"])
    md = ablation_markdown(table.reset_index())
    assert (
        "| harmonic | circular | slerp (default) |" in md and "| sum | arithmetic | linear |" in md
    )
    best = table["val_mean"].idxmax()
    assert f"| {best[0]} |" in next(line for line in md.splitlines() if "**" in line)
    out_csv, out_md = tmp_path / "merge_ablation.csv", tmp_path / "merge_ablation.md"
    argv = ["merge-ablation-table", "--ablation", str(first), str(second),
            "--out-csv", str(out_csv), "--out-md", str(out_md)]  # fmt: skip
    assert main(argv) == 0 and out_md.read_text() == md and out_csv.exists()
