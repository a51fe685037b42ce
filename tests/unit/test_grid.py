"""Patch grid: level choice, exact tissue fractions, coordinates in level-0 pixels."""

from __future__ import annotations

import numpy as np
import pytest

from mmlego.preprocess.grid import box_fractions, tissue_grid
from mmlego.preprocess.slide import choose_level


@pytest.mark.parametrize(
    ("base", "target", "level"),
    [
        (0.25, 0.5, 1),  # exact level
        (0.25, 1.0, 2),
        (0.25, 0.75, 1),  # between levels: the finer one, then downscale
        (0.25, 0.1, 0),  # finer than level 0: level 0 (upsampled)
        (0.25, 100.0, 3),  # coarser than every level: the coarsest
        (0.2527, 1.0, 2),  # 4 x 0.2527 = 1.011: within the 2% tolerance, counts as 1.0
        (0.26, 1.0, 1),  # 4 x 0.26 = 1.04: too coarse, read the finer level
    ],
)
def test_choose_level(base, target, level):
    assert choose_level(base, (1.0, 2.0, 4.0, 16.0), target) == level


def test_box_fractions_are_exact_for_fractional_boxes():
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 1] = True
    # A box covering half of pixel (1, 1) in x and all of it in y.
    frac = box_fractions(mask, np.array([1.5]), np.array([1.0]), 1.0, 1.0)
    np.testing.assert_allclose(frac, [0.5])
    # A 2x2 box straddling it: one quarter of the pixel inside a box of area 4.
    frac = box_fractions(mask, np.array([1.5]), np.array([1.5]), 2.0, 2.0)
    np.testing.assert_allclose(frac, [0.25 / 4])
    frac = box_fractions(mask, np.array([0.0]), np.array([0.0]), 4.0, 4.0)
    np.testing.assert_allclose(frac, [1 / 16])


def test_grid_keeps_exactly_the_tissue_cells():
    # Slide 4096 x 2048 at 0.25 µm/px; target 1 µm/px and 128 px -> 512 level-0 px cells (8 x 4).
    # Mask at 1/64 scale (64 x 32): tissue fills cells (x 2..4, y 1..2) exactly.
    mask = np.zeros((32, 64), dtype=bool)
    mask[8:24, 16:40] = True
    grid = tissue_grid(
        mask,
        dimensions=(4096, 2048),
        downsamples=(1.0, 4.0, 16.0),
        base_mpp=0.25,
        target_mpp=1.0,
        patch_size=128,
        min_tissue_fraction=0.5,
    )
    expected = {(x * 512, y * 512) for x in (2, 3, 4) for y in (1, 2)}
    assert set(map(tuple, grid.coords.tolist())) == expected
    assert grid.level == 1 and grid.read_size == 128 and grid.size_level0 == 512
    np.testing.assert_allclose(grid.tissue_fraction, 1.0)
    assert grid.coords.dtype == np.int64


def test_grid_threshold_and_partial_cells():
    mask = np.zeros((32, 64), dtype=bool)
    mask[8:16, 16:20] = True  # half of cell (2, 1)
    kwargs = dict(
        dimensions=(4096, 2048),
        downsamples=(1.0, 4.0),
        base_mpp=0.25,
        target_mpp=1.0,
        patch_size=128,
    )
    assert len(tissue_grid(mask, min_tissue_fraction=0.5, **kwargs)) == 1
    assert len(tissue_grid(mask, min_tissue_fraction=0.51, **kwargs)) == 0
    assert len(tissue_grid(np.zeros_like(mask), min_tissue_fraction=0.0, **kwargs)) == 0


def test_grid_between_levels_reads_more_pixels_and_drops_partial_edge_cells():
    # Target 0.75 µm/px from levels at 0.5 and 2.0: read level 1 (0.5) with 192 px, resize to 128.
    mask = np.ones((10, 10), dtype=bool)
    grid = tissue_grid(
        mask,
        dimensions=(1000, 1000),
        downsamples=(1.0, 2.0, 8.0),
        base_mpp=0.25,
        target_mpp=0.75,
        patch_size=128,
        min_tissue_fraction=0.5,
    )
    assert grid.level == 1 and grid.read_size == 192 and grid.size_level0 == 384
    assert len(grid) == 4  # 1000 // 384 = 2 full patches per side
    assert grid.coords.max() + 384 <= 1000
