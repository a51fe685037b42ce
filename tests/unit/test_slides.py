"""Slides through OpenSlide: resolution, thumbnails, patch reading, encode_slide end to end.

The slides here are hand-made pyramidal TIFFs with known geometry (a known answer for every
coordinate); the generator's TCGA-like slides are used in test_features_generated.py.
"""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pytest

from mmlego.cli import main
from mmlego.preprocess.features_io import read_features
from mmlego.preprocess.grid import tissue_grid
from mmlego.preprocess.patches import SlidePatches
from mmlego.preprocess.pipeline import encode_slide
from mmlego.preprocess.slide import Slide
from tests.unit.features_support import config, write_tiff

GLASS = (238, 238, 236)
PINK = (205, 115, 170)


def block_slide(size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Glass with a pink tissue rectangle over level-0 x in [512, 1536), y in [768, 1792)."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = GLASS
    truth = np.zeros((size, size), dtype=bool)
    truth[768:1792, 512:1536] = True
    image[truth] = PINK
    return image, truth


@pytest.fixture(scope="module")
def block_tiff(tmp_path_factory):
    path = tmp_path_factory.mktemp("slides") / "block.tif"
    image, truth = block_slide()
    write_tiff(path, image, mpp=0.5)
    return path, truth


def test_slide_geometry_resolution_and_thumbnail(block_tiff):
    path, _ = block_tiff
    with Slide(path) as slide:
        assert slide.dimensions == (2048, 2048) and slide.downsamples == (1.0, 2.0, 4.0)
        res = slide.resolution(None, None)
        assert (res.mpp, res.source) == (0.5, "metadata")
        assert slide.resolution(0.25, None).source == "manifest"
        thumb, mpp = slide.thumbnail(4.0, 0.5)
    assert thumb.shape == (256, 256, 3) and mpp == 4.0
    # Thumbnail pixel (y, x) covers level-0 [8y, 8y+8) x [8x, 8x+8).
    np.testing.assert_allclose(thumb[150, 100], PINK, atol=6)
    np.testing.assert_allclose(thumb[20, 20], GLASS, atol=6)


def test_patches_are_read_on_tissue_at_the_right_level(block_tiff):
    path, truth = block_tiff
    mask = truth[::8, ::8]
    with Slide(path) as slide:
        grid = tissue_grid(
            mask,
            dimensions=slide.dimensions,
            downsamples=slide.downsamples,
            base_mpp=0.5,
            target_mpp=1.0,
            patch_size=64,
            min_tissue_fraction=0.5,
        )
    # 1 µm/px over 0.5 µm/px: level 1 (downsample 2), 64 px there = 128 level-0 px per patch.
    assert grid.level == 1 and grid.read_size == 64 and grid.size_level0 == 128
    assert len(grid) == 8 * 8  # the 1024 x 1024 tissue block holds 8 x 8 cells exactly
    x, y = grid.coords[:, 0], grid.coords[:, 1]
    assert x.min() == 512 and x.max() == 1536 - 128 and y.min() == 768 and y.max() == 1792 - 128
    dataset = SlidePatches(path, grid)
    first = dataset[0]
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    np.testing.assert_allclose(first.reshape(-1, 3).mean(0), PINK, atol=6)


def test_regions_past_the_edge_read_as_white_glass(block_tiff):
    path, _ = block_tiff
    with Slide(path) as slide:
        inside = slide.read_region(512, 768, 0, 64, 64)
        edge = slide.read_region(2048 - 32, 0, 0, 64, 64)  # its right half is off the slide
    np.testing.assert_allclose(inside.reshape(-1, 3).mean(0), PINK, atol=6)
    assert (edge[:, 32:] == 255).all()
    np.testing.assert_allclose(edge[:, :32].reshape(-1, 3).mean(0), GLASS, atol=6)


def test_encode_slide_writes_clam_layout(block_tiff, tmp_path):
    path, _ = block_tiff
    out = tmp_path / "block.h5"
    n = encode_slide(path, out, item_id="block", config=config())
    feats = read_features(out)
    assert n == 64 and feats.features.shape == (64, 512) and feats.coords.shape == (64, 2)
    attrs = feats.attrs
    assert attrs["patch_level"] == 1 and attrs["patch_size"] == 64 and attrs["mpp"] == 1.0
    assert attrs["slide_mpp"] == 0.5 and attrs["random_init"] and attrs["status"] == "ok"
    with h5py.File(out) as h5:
        assert h5["coords"].attrs["patch_level"] == 1  # where CLAM keeps it
        assert "config_hash" in h5.attrs["provenance"]
    # fp32 features are bit-identical when the slide is encoded again (with 1 loader worker).
    again = tmp_path / "again.h5"
    encode_slide(path, again, item_id="block", config=config(encoder={"num_workers": 1}))
    assert read_features(again).features.tobytes() == feats.features.tobytes()


def test_missing_mpp_needs_a_fallback(tmp_path, caplog):
    image, _ = block_slide(1024)
    path = tmp_path / "nompp.tif"
    write_tiff(path, image, mpp=None)
    out = tmp_path / "nompp.h5"
    with pytest.raises(
        ValueError, match=r"nompp\.tif: the slide has no mpp metadata.*mpp_fallback"
    ):
        encode_slide(path, out, item_id="nompp", config=config())
    assert not out.exists()
    with caplog.at_level(logging.WARNING):
        encode_slide(path, out, item_id="nompp", config=config(), fallback_mpp=0.5)
    assert read_features(out).attrs["mpp_source"] == "fallback"
    assert "no mpp in the slide metadata" in caplog.text


def test_bad_files_fail_naming_the_file(tmp_path, block_tiff):
    text = tmp_path / "notes.svs"
    text.write_text("this is not a slide\n")
    with pytest.raises(ValueError, match=r"notes\.svs: not a slide format OpenSlide can read"):
        Slide(text)
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(block_tiff[0].read_bytes()[:5000])
    with pytest.raises((ValueError, RuntimeError), match=r"truncated\.tif"):
        encode_slide(truncated, tmp_path / "t.h5", item_id="t", config=config())
    with pytest.raises(FileNotFoundError, match=r"absent\.tif"):
        Slide(tmp_path / "absent.tif")


def test_cli_reports_one_clear_line_and_no_output(tmp_path, capfd):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 100)
    out = tmp_path / "broken.h5"
    args = ["--slide", str(bad), "--item-id", "b", "--out", str(out)]
    code = main(["encode-slide", "--cfg", json.dumps(config()), *args])
    assert code == 1 and not out.exists()
    err = capfd.readouterr().err
    assert "encode-slide failed" in err and "broken.tif" in err and "Traceback" not in err
