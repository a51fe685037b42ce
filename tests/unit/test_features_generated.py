"""Feature extraction on the project's generated TCGA-like slides (known true tissue masks)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mmlego.demo.slides import write_slide
from mmlego.preprocess.features_io import read_features
from mmlego.preprocess.pipeline import encode_slides, lay_out_slide
from mmlego.preprocess.slide import Slide
from tests.unit.features_support import config


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    return [write_slide(root / f"s{seed}.tif", size=1024, seed=seed) for seed in (0, 1)]


def _at(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(mask).resize(shape[::-1], Image.Resampling.NEAREST))


def _layout(path, **preprocess):
    cfg = config(preprocess=preprocess)
    with Slide(path) as slide:
        return lay_out_slide(
            slide,
            encoder=cfg["encoder"],
            preprocess=cfg["preprocess"],
            manifest_mpp=None,
            fallback_mpp=None,
        )


def _check_segmentation(truth) -> None:
    """IoU with the true tissue >= 0.8, no ink kept as tissue, almost no background kept."""
    mask = _layout(truth.path).tissue.mask
    tissue = _at(truth.tissue_mask, mask.shape)
    pen = _at(truth.pen_mask, mask.shape)
    iou = (mask & tissue).sum() / (mask | tissue).sum()
    assert iou >= 0.8, (truth.path, iou)
    assert pen.sum() > 0 and (mask & pen & ~tissue).sum() == 0  # no ink kept as tissue
    background = ~tissue & ~pen
    assert (mask & background).mean() < 0.02


def test_segmentation_matches_the_true_mask_and_drops_ink(slides):
    for truth in slides:
        _check_segmentation(truth)


def test_red_pen_mark_is_not_tissue(tmp_path):
    truth = write_slide(tmp_path / "red.tif", size=1024, seed=1, pen_colour="red")
    _check_segmentation(truth)
    # Without pen removal the red stroke is segmented as tissue: the check above has teeth.
    kept = _layout(truth.path, remove_pen=False).tissue.mask
    pen_only = _at(truth.pen_mask & ~truth.tissue_mask, kept.shape)
    assert (kept & pen_only).sum() > 0.5 * pen_only.sum()


def test_patches_lie_on_tissue_at_the_target_resolution(slides, tmp_path):
    truth = slides[0]
    out = tmp_path / "shard"
    encode_slides([("s0", truth.path, None)], out, config=config())
    feats = read_features(out / "s0.h5")
    # 64 px at 1 µm/px over 0.5 µm/px level 0 = 128 level-0 px, read from level 0 (next is 2 µm/px).
    assert feats.attrs["patch_level"] == 0 and feats.attrs["read_size"] == 128
    assert feats.attrs["patch_size_level0"] == 128 and feats.attrs["slide_mpp"] == 0.5
    cell = truth.mask_downsample
    fractions = [
        truth.tissue_mask[y // cell : (y + 128) // cell, x // cell : (x + 128) // cell].mean()
        for x, y in feats.coords
    ]
    assert len(fractions) >= 8 and min(fractions) >= 0.3 and np.mean(fractions) >= 0.8


def test_a_shard_fails_whole_on_a_slide_without_tissue(slides, tmp_path):
    blank = write_slide(tmp_path / "blank.tif", size=512, seed=3, tissue=False)
    out = tmp_path / "shard"
    rows = [("s1", slides[1].path, None), ("blank", blank.path, None)]
    with pytest.raises(ValueError, match=r"blank\.tif: no tissue found"):
        encode_slides(rows, out, config=config())
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))
    skip = config(preprocess={"skip_slides_without_tissue": True})
    encode_slides(rows, out, config=skip)
    assert read_features(out / "blank.h5").status == "skipped: no tissue"
    assert len(read_features(out / "s1.h5").features) > 0


def test_generated_slide_without_mpp_takes_the_manifest_value(tmp_path):
    truth = write_slide(tmp_path / "nompp.tif", size=512, seed=4, mpp=None)
    with pytest.raises(ValueError, match=r"nompp\.tif: the slide has no mpp metadata"):
        encode_slides([("n", truth.path, None)], tmp_path / "a", config=config())
    encode_slides([("n", truth.path, 0.5)], tmp_path / "b", config=config())
    assert read_features(tmp_path / "b" / "n.h5").attrs["mpp_source"] == "manifest"
