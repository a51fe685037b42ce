"""The patch grid: non-overlapping patches at a target µm/px, kept where there is tissue.

Coordinates are level-0 pixels of the patches' top-left corners (as in CLAM and TRIDENT).
Each patch is read at the coarsest pyramid level that is at least as fine as the target
resolution and resized to ``patch_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from mmlego.preprocess.slide import choose_level


@dataclass(frozen=True)
class PatchGrid:
    """Where to read each patch of one slide and how to bring it to the target size."""

    coords: np.ndarray  # (N, 2) int64, level-0 x, y of the top-left corners
    tissue_fraction: np.ndarray  # (N,) float32, fraction of each patch that is tissue
    level: int  # pyramid level the patches are read from
    read_size: int  # patch side in pixels of that level
    patch_size: int  # patch side after resizing, at the target resolution
    size_level0: float  # patch side in level-0 pixels
    target_mpp: float
    base_mpp: float  # level-0 µm/px
    level_mpp: float  # µm/px of the read level

    def __len__(self) -> int:
        return len(self.coords)


def box_fractions(mask: np.ndarray, x0: np.ndarray, y0: np.ndarray, side_x: float, side_y: float):
    """Area-weighted mean of ``mask`` over boxes with fractional corners (mask pixel units).

    The summed-area table of a piecewise-constant image is bilinear inside each pixel, so
    interpolating it linearly at the box corners gives the exact covered area.
    """
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.float64)
    table[1:, 1:] = np.cumsum(np.cumsum(mask.astype(np.float64), axis=0), axis=1)

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return map_coordinates(table, [y, x], order=1, mode="nearest")

    x1, y1 = x0 + side_x, y0 + side_y
    area = at(x1, y1) - at(x0, y1) - at(x1, y0) + at(x0, y0)
    return area / (side_x * side_y)


def tissue_grid(
    mask: np.ndarray,
    *,
    dimensions: tuple[int, int],
    downsamples: tuple[float, ...],
    base_mpp: float,
    target_mpp: float,
    patch_size: int,
    min_tissue_fraction: float,
) -> PatchGrid:
    """Grid of full patches over a slide of level-0 ``dimensions`` (width, height).

    ``mask`` is the tissue mask of the whole slide at any resolution (its shape sets the
    scale); a patch is kept when at least ``min_tissue_fraction`` of its area is tissue.
    """
    width0, height0 = dimensions
    size0 = patch_size * target_mpp / base_mpp
    n_x, n_y = int(width0 // size0), int(height0 // size0)
    level = choose_level(base_mpp, downsamples, target_mpp)
    level_mpp = base_mpp * downsamples[level]
    read_size = max(1, round(patch_size * target_mpp / level_mpp))
    xs = np.floor(np.arange(n_x) * size0).astype(np.int64)
    ys = np.floor(np.arange(n_y) * size0).astype(np.int64)
    gx, gy = np.meshgrid(xs, ys)  # row-major: patches ordered by row, then column
    gx, gy = gx.ravel(), gy.ravel()
    scale_x, scale_y = mask.shape[1] / width0, mask.shape[0] / height0
    fractions = box_fractions(mask, gx * scale_x, gy * scale_y, size0 * scale_x, size0 * scale_y)
    # A tiny tolerance: float round-off must not drop a patch that is exactly at the threshold.
    keep = fractions >= min_tissue_fraction - 1e-9
    if min_tissue_fraction <= 0:
        keep &= fractions > 0
    return PatchGrid(
        coords=np.stack([gx[keep], gy[keep]], axis=1).astype(np.int64).reshape(-1, 2),
        tissue_fraction=fractions[keep].astype(np.float32),
        level=level,
        read_size=read_size,
        patch_size=patch_size,
        size_level0=float(size0),
        target_mpp=target_mpp,
        base_mpp=base_mpp,
        level_mpp=level_mpp,
    )
