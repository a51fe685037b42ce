"""The manifest step opens every slide and image before any encoding job is planned: a file
that cannot be encoded fails that step (never retried) once, naming every bad file by reason,
and no manifest is written."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmlego.data.build import build_manifest, build_tables
from mmlego.demo.slides import write_slide
from mmlego.preprocess.item_check import SHOWN, check_items
from mmlego.utils.provenance import provenance


def _frame(paths, mpp=None) -> pd.DataFrame:
    frame = pd.DataFrame({"path": [str(p) for p in paths]})
    if mpp is not None:
        frame["mpp"] = mpp
    return frame


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    """A good slide, one without mpp metadata, a text file named .svs, a truncated slide."""
    folder = tmp_path_factory.mktemp("slides")
    write_slide(folder / "good.tif", size=256, seed=0)
    write_slide(folder / "nompp.tif", size=256, seed=1, mpp=None)
    (folder / "notes.svs").write_text("patient notes, not a slide\n")
    data = (folder / "good.tif").read_bytes()
    (folder / "cut.tif").write_bytes(data[: len(data) // 2])
    return folder


def test_good_slides_pass_and_the_manifest_or_fallback_mpp_supplies_a_missing_one(slides):
    check_items(_frame([slides / "good.tif"]), "wsi", None, source="s")
    check_items(_frame([slides / "nompp.tif"]), "wsi", 0.5, source="s")
    check_items(_frame([slides / "nompp.tif"], mpp=[0.25]), "wsi", None, source="s")
    # A blank manifest cell is no resolution.
    with pytest.raises(ValueError, match="no mpp metadata"):
        check_items(_frame([slides / "nompp.tif"], mpp=[np.nan]), "wsi", None, source="s")


def test_every_bad_slide_is_named_once_under_its_reason(slides):
    paths = [slides / n for n in ("good.tif", "notes.svs", "cut.tif", "nompp.tif")]
    with pytest.raises(ValueError) as err:
        check_items(_frame(paths), "wsi", None, source="mine/slides")
    message = str(err.value)
    assert message.startswith("mine/slides: 3 of 4 slides cannot be encoded; fix or remove")
    for name in ("notes.svs", "cut.tif", "nompp.tif"):
        assert message.count(str(slides / name)) == 1, message
    assert str(slides / "good.tif") not in message
    # The two unreadable files share OpenSlide's reason; the slide without mpp has its own.
    assert message.count("not a slide format OpenSlide can read") == 1
    assert message.count("no mpp metadata") == 1
    assert "\n" not in message


def test_images_are_checked_and_a_long_list_is_counted(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.jpg")
    bad = []
    for i in range(SHOWN + 2):
        bad.append(tmp_path / f"b{i}.jpg")
        bad[-1].write_bytes(b"not a jpeg")
    # Paths as a manifest may write them ("folder/./file"): one reason still groups them all.
    written = [f"{path.parent}/./{path.name}" for path in bad]
    with pytest.raises(ValueError) as err:
        check_items(_frame([tmp_path / "ok.jpg", *written]), "image", None, source="isic/image")
    message = str(err.value)
    assert message.startswith(f"isic/image: {len(bad)} of {len(bad) + 1} images cannot")
    assert "not a readable image" in message
    assert re.search(rf"\(and {len(bad) - SHOWN} more\)", message), message
    assert str(tmp_path / "ok.jpg") not in message


def test_build_manifest_fails_on_a_bad_slide_and_writes_no_manifest(tmp_path, slides):
    pd.DataFrame({"pid": ["a", "b"], "t": [1.0, 2.0], "e": [1, 0]}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    pd.DataFrame({"pid": ["a", "b"], "age": [1.0, 2.0]}).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame(
        {"pid": ["a", "b"], "path": [str(slides / "good.tif"), str(slides / "notes.svs")]}
    ).to_csv(tmp_path / "m.csv", index=False)
    ds = {
        "kind": "generic",
        "task": "survival",
        "extra_ids": "error",
        "labels": {"path": str(tmp_path / "labels.csv"), "id": "pid", "time": "t", "event": "e"},
        "modalities": {
            "clinical": {"type": "tabular", "path": str(tmp_path / "c.csv"), "id": "pid"},
            "slides": {"type": "wsi", "manifest": str(tmp_path / "m.csv"), "id": "pid"},
        },
    }
    out = tmp_path / "out"
    build_tables("mine", ds, out, provenance=provenance({}), seed=0)
    with pytest.raises(ValueError, match=r"mine/slides: 1 of 2 slides .*notes\.svs"):
        build_manifest(
            "mine",
            ds,
            "slides",
            out / "labels.parquet",
            out / "m.csv",
            out / "s.csv",
            mod_type="wsi",
        )
    assert not (out / "m.csv").exists() and not (out / "s.csv").exists()
