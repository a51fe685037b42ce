"""Synthetic slides: real pyramidal TIFFs that OpenSlide reads, with the planted truth."""

from __future__ import annotations

import numpy as np
import openslide
import pytest
import tifffile
from scipy import ndimage

from mmlego.demo.slides import MAP_DOWNSAMPLE, write_slide


def _saturation(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(float)
    high, low = rgb.max(-1), rgb.min(-1)
    return (high - low) / np.maximum(high, 1)


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    path = tmp_path_factory.mktemp("slides") / "s.tif"
    return write_slide(path, size=(1280, 1024), seed=3, tumour_fraction=0.4)


def test_openslide_reads_levels_and_mpp(slide):
    with openslide.OpenSlide(slide.path) as wsi:
        assert wsi.properties[openslide.PROPERTY_NAME_VENDOR] == "generic-tiff"
        assert wsi.level_count == 3
        assert wsi.level_dimensions == ((1280, 1024), (320, 256), (80, 64))
        assert wsi.level_downsamples == pytest.approx((1.0, 4.0, 16.0))
        assert float(wsi.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(0.5)
        assert float(wsi.properties[openslide.PROPERTY_NAME_MPP_Y]) == pytest.approx(0.5)


def test_tiff_layout_is_tiled_deflate_with_reduced_subfiletype(slide):
    with tifffile.TiffFile(slide.path) as tif:
        pages = tif.pages
        assert len(pages) == 3
        for index, page in enumerate(pages):
            assert page.is_tiled and (page.tilelength, page.tilewidth) == (256, 256)
            assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
            assert page.subfiletype == (0 if index == 0 else 1)


def test_true_masks_match_the_pixels(slide):
    assert slide.tissue_mask.shape == (1024 // MAP_DOWNSAMPLE, 1280 // MAP_DOWNSAMPLE)
    assert 0.15 < slide.tissue_fraction < 0.6
    assert slide.tumour_fraction == pytest.approx(0.4, abs=0.03)
    with openslide.OpenSlide(slide.path) as wsi:
        thumb = np.asarray(wsi.read_region((0, 0), 2, wsi.level_dimensions[2]).convert("RGB"))
    saturation = _saturation(thumb)
    core = ndimage.binary_erosion(slide.tissue_mask, iterations=1) & ~slide.pen_mask
    assert np.mean(saturation[core] > 0.15) > 0.99
    # Far from tissue and pen, the slide is near-white background with faint noise.
    stained = ndimage.binary_dilation(saturation > 0.15, iterations=2)
    background = ~ndimage.binary_dilation(slide.tissue_mask, iterations=2) & ~stained
    assert background.mean() > 0.3
    assert thumb[background].mean() > 230
    # Tumour (nuclei-dense, purple) is darker than stroma (pink): what a patch encoder sees.
    tumour = ndimage.binary_erosion(slide.tumour_mask, iterations=1)
    stroma = ndimage.binary_erosion(slide.tissue_mask & ~slide.tumour_mask, iterations=1)
    assert thumb[tumour].mean() < thumb[stroma].mean() - 30


def test_pen_mark_is_drawn_but_not_tissue(slide):
    with openslide.OpenSlide(slide.path) as wsi:
        thumb = np.asarray(wsi.read_region((0, 0), 2, wsi.level_dimensions[2]).convert("RGB"))
    pen_core = ndimage.binary_erosion(slide.pen_mask, iterations=1)
    assert 0 < pen_core.mean() < 0.1
    assert not (pen_core & slide.tissue_mask).any()
    # Marker ink is far from both the white background and the pink/purple stains.
    assert thumb[pen_core].mean() < 180


def test_reduced_level_looks_like_downsampled_level0(slide):
    with openslide.OpenSlide(slide.path) as wsi:
        level0 = np.asarray(wsi.read_region((0, 0), 0, (1280, 1024)).convert("RGB"), float)
        level1 = np.asarray(wsi.read_region((0, 0), 1, (320, 256)).convert("RGB"), float)
    reduced = level0.reshape(256, 4, 320, 4, 3).mean((1, 3))
    assert np.abs(reduced - level1).mean() < 6


def test_same_seed_same_pixels_other_seed_differs(tmp_path):
    kwargs = dict(size=512, tumour_fraction=0.5)
    a = write_slide(tmp_path / "a.tif", seed=1, **kwargs)
    b = write_slide(tmp_path / "b.tif", seed=1, **kwargs)
    c = write_slide(tmp_path / "c.tif", seed=2, **kwargs)
    pixels = [tifffile.imread(t.path) for t in (a, b, c)]
    assert np.array_equal(pixels[0], pixels[1])
    assert np.array_equal(a.tissue_mask, b.tissue_mask)
    assert not np.array_equal(pixels[0], pixels[2])


def test_slide_without_mpp_and_slide_without_tissue(tmp_path):
    no_mpp = write_slide(tmp_path / "no_mpp.tif", size=512, seed=0, mpp=None)
    with openslide.OpenSlide(no_mpp.path) as wsi:
        assert openslide.PROPERTY_NAME_MPP_X not in wsi.properties
        assert wsi.level_count == 3
    blank = write_slide(tmp_path / "blank.tif", size=256, seed=0, tissue=False)
    assert blank.tissue_fraction == 0.0 and blank.tumour_fraction == 0.0
    pixels = tifffile.imread(blank.path)
    assert pixels.shape == (256, 256, 3) and pixels.min() > 225
    assert _saturation(pixels).max() < 0.08


def test_red_pen_on_request_same_layout_otherwise(tmp_path):
    drawn = write_slide(tmp_path / "drawn.tif", size=512, seed=4)
    red = write_slide(tmp_path / "red.tif", size=512, seed=4, pen_colour="red")
    # Choosing the ink leaves the seed's layout (and its stream of draws) as it was.
    assert np.array_equal(drawn.pen_mask, red.pen_mask)
    assert np.array_equal(drawn.tissue_mask, red.tissue_mask)
    level2 = tifffile.imread(red.path, key=2).astype(float)
    core = ndimage.binary_erosion(red.pen_mask, iterations=1)
    ink = level2[core]
    # Marker red: red well above green and blue wherever the stroke is solid.
    assert (ink[:, 0] - ink[:, 1:].max(1)).mean() > 80


def test_bad_arguments_name_the_slide(tmp_path):
    with pytest.raises(ValueError, match=r"tiny\.tif.*minimum"):
        write_slide(tmp_path / "tiny.tif", size=100)
    with pytest.raises(ValueError, match="tumour_fraction"):
        write_slide(tmp_path / "x.tif", size=256, tumour_fraction=1.5)
    with pytest.raises(ValueError, match=r"pen\.tif: pen_colour 'pink' is not one of"):
        write_slide(tmp_path / "pen.tif", size=256, pen_colour="pink")
    assert not list(tmp_path.iterdir())
