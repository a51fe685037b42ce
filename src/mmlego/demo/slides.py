"""Synthetic H&E-like whole-slide images as pyramidal tiled TIFFs that OpenSlide opens.

A slide is planned on a coarse *layout grid* (one cell per ``MAP_DOWNSAMPLE`` level-0 pixels):
where the tissue is, which tissue is tumour, where the artefacts sit. The grid is small (a
40k-px slide has a 2.5k-cell grid), so it is held in memory; the pixels never are. Each
256-px tile of each pyramid level is rendered on its own from the grid (bilinear, so edges
are smooth) and from small periodic textures (so tiles join without seams), then streamed
to ``tifffile``.

Tissue is a few irregular pieces on a white, slightly noisy background. Inside the tissue,
"tumour" regions are purple and nuclei-dense; "stroma" is pink and fibrous with sparse
nuclei; small white gaps (lumina, fat) are holes. The fraction of tissue that is tumour is
the slide's planted factor: it shifts colour statistics that even a randomly initialised
patch encoder sees. Artefacts a real pipeline must survive: a marker-pen stroke, a blurred
(out-of-focus) region and background noise. The returned :class:`SlideTruth` holds the true
masks on the layout grid: pen, gaps and background are not tissue, the blurred region is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

from mmlego.demo.fields import bilinear, periodic_blur, smooth_field, smoothstep
from mmlego.utils.atomic import atomic_path

MAP_DOWNSAMPLE = 16
LEVEL_DOWNSAMPLES = (1, 4, 16)
TILE = 256
TEXTURE_PERIOD = 512
DEFAULT_MPP = 0.5

_BACKGROUND = np.array([241.0, 240.0, 243.0], dtype=np.float32)
_STROMA_LIGHT = np.array([245.0, 192.0, 216.0])
_STROMA_DARK = np.array([222.0, 128.0, 178.0])
_STROMA_NUCLEUS = np.array([122.0, 72.0, 152.0])
_TUMOUR_CYTOPLASM = np.array([190.0, 132.0, 192.0])
_TUMOUR_NUCLEUS = np.array([70.0, 36.0, 116.0])
_PEN_COLOURS = {
    "green": np.array([60.0, 150.0, 90.0]),
    "blue": np.array([50.0, 70.0, 170.0]),
    "black": np.array([40.0, 40.0, 50.0]),
    "red": np.array([205.0, 35.0, 45.0]),
}
# Colours a slide's pen is drawn from when none is asked for (red only on request, so the
# slides of a seed stay what they were before red existed).
_DRAWN_PENS = ("green", "blue", "black")


@dataclass(frozen=True)
class SlideTruth:
    """What was planted in one slide, on the layout grid (``mask_downsample`` px per cell).

    ``tissue_mask``: true tissue (not background, gaps or pen); ``tumour_mask``: tumour
    tissue; ``pen_mask``: cells the marker touches at all (tissue under a faint pen edge
    stays tissue).
    """

    path: Path
    width: int
    height: int
    mpp: float | None
    mask_downsample: int
    tissue_mask: np.ndarray
    tumour_mask: np.ndarray
    pen_mask: np.ndarray

    @property
    def tissue_fraction(self) -> float:
        """Fraction of the slide area that is tissue."""
        return float(self.tissue_mask.mean())

    @property
    def tumour_fraction(self) -> float:
        """Fraction of the tissue that is tumour (0 for a slide without tissue)."""
        tissue = self.tissue_mask.sum()
        return float(self.tumour_mask.sum() / tissue) if tissue else 0.0


@dataclass(frozen=True)
class _Layout:
    """Soft maps on the layout grid, stacked (tissue, tumour, blur, pen), plus the truth."""

    soft: np.ndarray
    tissue: np.ndarray
    tumour: np.ndarray
    pen_colour: np.ndarray


def write_slide(
    path: str | Path,
    *,
    size: int | tuple[int, int] = 2048,
    seed: int = 0,
    tumour_fraction: float = 0.5,
    mpp: float | None = DEFAULT_MPP,
    tissue: bool = True,
    tissue_cover: float = 0.35,
    artefacts: bool = True,
    texture_seed: int | None = None,
    compression_level: int = 1,
    pen_colour: str | None = None,
) -> SlideTruth:
    """Write one synthetic slide to ``path`` (a pyramidal tiled TIFF) and return its truth.

    ``size`` is the level-0 side (or ``(width, height)``), at least 256 px. ``tumour_fraction``
    is the fraction of the tissue that is tumour; ``tissue_cover`` the fraction of the slide
    covered by tissue. ``mpp=None`` writes no resolution metadata (a slide whose mpp must come
    from elsewhere); ``tissue=False`` writes background only (a slide without tissue).
    ``texture_seed`` picks the texture bank (default ``seed``): slides of a cohort may share a
    few banks, which saves building textures per slide; each slide still gets its own stain
    tint, layout and noise. ``pen_colour`` (green, blue, black or red) sets the marker's ink;
    by default it is drawn from the seed among green, blue and black. The file is written tile by tile through a temporary name and
    renamed on success.
    """
    width, height = (size, size) if isinstance(size, int) else size
    if min(width, height) < TILE:
        raise ValueError(f"slide {path}: size {width}x{height} is below the minimum {TILE} px")
    if not 0.0 <= tumour_fraction <= 1.0:
        raise ValueError(f"slide {path}: tumour_fraction {tumour_fraction} is not in [0, 1]")
    if mpp is not None and mpp <= 0:
        raise ValueError(f"slide {path}: mpp must be positive or None, got {mpp}")
    if pen_colour is not None and pen_colour not in _PEN_COLOURS:
        raise ValueError(
            f"slide {path}: pen_colour {pen_colour!r} is not one of {sorted(_PEN_COLOURS)}"
        )
    rng = np.random.default_rng(seed)
    grid_shape = (math.ceil(height / MAP_DOWNSAMPLE), math.ceil(width / MAP_DOWNSAMPLE))
    layout = _plan_layout(
        rng, grid_shape, tumour_fraction, tissue_cover, tissue, artefacts, pen_colour
    )
    textures = _textures(seed if texture_seed is None else texture_seed)
    stain = (1.0 + rng.normal(0.0, 0.03, 3)).astype(np.float32)
    noise = np.rint(rng.normal(0.0, 1.5, (2 * TILE, 2 * TILE, 3))).astype(np.float32)
    big = width * height * 3 > 2**31
    with atomic_path(path) as tmp, tifffile.TiffWriter(tmp, bigtiff=big) as tif:
        for index, downsample in enumerate(LEVEL_DOWNSAMPLES):
            shape = (math.ceil(height / downsample), math.ceil(width / downsample), 3)
            extra = {}
            if mpp is not None:
                extra = {
                    "resolution": (1e4 / (mpp * downsample),) * 2,
                    "resolutionunit": "CENTIMETER",
                }
            tif.write(
                _tiles(layout, textures[downsample], stain, noise, shape, downsample, seed),
                shape=shape,
                dtype=np.uint8,
                tile=(TILE, TILE),
                photometric="rgb",
                compression="zlib",
                compressionargs={"level": compression_level},
                subfiletype=0 if index == 0 else 1,
                metadata=None,
                **extra,
            )
    return SlideTruth(
        path=Path(path),
        width=width,
        height=height,
        mpp=mpp,
        mask_downsample=MAP_DOWNSAMPLE,
        tissue_mask=layout.tissue,
        tumour_mask=layout.tumour,
        pen_mask=layout.soft[..., 3] > 0,
    )


def _plan_layout(
    rng: np.random.Generator,
    shape: tuple[int, int],
    tumour_fraction: float,
    cover: float,
    with_tissue: bool,
    artefacts: bool,
    pen_name: str | None,
) -> _Layout:
    """Tissue pieces, tumour regions, gaps, pen stroke and blurred region on the grid."""
    h, w = shape
    side = min(h, w)
    yy, xx = np.meshgrid(
        np.linspace(-1, 1, h, dtype=np.float32),
        np.linspace(-1, 1, w, dtype=np.float32),
        indexing="ij",
    )
    drawn = _DRAWN_PENS[int(rng.integers(len(_DRAWN_PENS)))]
    pen_colour = _PEN_COLOURS[pen_name or drawn]
    # Draw every random field even for a blank slide, so the stream of draws is fixed.
    pieces = smooth_field(rng, shape, side / 7) - 2.2 * (yy**2 + xx**2)
    gaps = smooth_field(rng, shape, max(0.8, side / 45))
    tumour_field = smooth_field(rng, shape, max(1.0, side / 12))
    margin = max(1, round(0.04 * side))
    inside = np.zeros(shape, dtype=bool)
    inside[margin : h - margin, margin : w - margin] = True
    if with_tissue:
        tissue = (pieces > np.quantile(pieces, 1.0 - cover)) & inside
        tissue &= gaps < np.quantile(gaps, 0.96)
    else:
        tissue = np.zeros(shape, dtype=bool)
    pen = np.zeros(shape, dtype=np.float32)
    blur = np.zeros(shape, dtype=np.float32)
    if artefacts and with_tissue:
        pen = _pen_stroke(rng, shape)
        blur = _blur_region(rng, tissue)
        tissue &= pen < 0.5
    tumour = np.zeros(shape, dtype=bool)
    if tissue.any() and tumour_fraction > 0:
        threshold = np.quantile(tumour_field[tissue], 1.0 - tumour_fraction)
        tumour = tissue & (tumour_field >= threshold)
    # A slight blur of the binary maps gives smooth edges once upsampled to level 0.
    soft = np.stack(
        [
            ndimage.gaussian_filter(tissue.astype(np.float32), 0.6),
            ndimage.gaussian_filter(tumour.astype(np.float32), 0.6),
            blur,
            pen,
        ],
        axis=-1,
    ).astype(np.float32)
    return _Layout(
        soft=soft, tissue=tissue, tumour=tumour, pen_colour=pen_colour.astype(np.float32)
    )


def _pen_stroke(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A wavy marker line across part of the slide, as a soft coverage map."""
    h, w = shape
    centre = np.array([h, w]) * rng.uniform(0.25, 0.75, 2)
    angle = rng.uniform(0, np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)])
    normal = np.array([direction[1], -direction[0]])
    length = 0.5 * min(h, w)
    s = np.linspace(-0.5, 0.5, 400)
    wave = 0.06 * min(h, w) * np.sin(2 * np.pi * (1.5 * s + rng.uniform()))
    points = centre + np.outer(s * length, direction) + np.outer(wave, normal)
    points = np.round(points).astype(int)
    keep = (points[:, 0] >= 0) & (points[:, 0] < h) & (points[:, 1] >= 0) & (points[:, 1] < w)
    line = np.ones(shape, dtype=bool)
    line[points[keep, 0], points[keep, 1]] = False
    distance = ndimage.distance_transform_edt(line)
    half_width = max(1.2, 0.012 * min(h, w))
    return np.clip(half_width + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def _blur_region(rng: np.random.Generator, tissue: np.ndarray) -> np.ndarray:
    """An out-of-focus disc centred on a tissue cell, as a soft coverage map."""
    cells = np.argwhere(tissue)
    if len(cells) == 0:
        return np.zeros(tissue.shape, dtype=np.float32)
    cy, cx = cells[int(rng.integers(len(cells)))]
    radius = max(2.0, 0.1 * min(tissue.shape))
    yy, xx = np.indices(tissue.shape)
    distance = np.hypot(yy - cy, xx - cx)
    return np.clip((radius - distance) / 2.0, 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _textures(texture_seed: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Periodic stroma and tumour textures, sharp and blurred, box-averaged per pyramid level.

    Returns ``{downsample: (sharp, blurred)}`` with arrays (2, P/d, P/d, 3): stroma, tumour.
    Reduced levels sample the box average of the level-0 texture, so a pyramid level looks
    like the downsampled level 0, as a scanner's pyramid does.
    """
    rng = np.random.default_rng([texture_seed, 0x7E57])
    p = TEXTURE_PERIOD
    fibres = smooth_field(rng, (p, p), (1.2, 9.0))
    stroma_nuclei = smoothstep(smooth_field(rng, (p, p), (1.6, 4.0)), 2.1, 2.7)
    stroma = _mix(_STROMA_LIGHT, _STROMA_DARK, smoothstep(fibres, -0.6, 1.6))
    stroma = _mix(stroma, _STROMA_NUCLEUS, stroma_nuclei)
    nuclei = smoothstep(smooth_field(rng, (p, p), 2.6), 0.35, 0.85)
    cytoplasm = 1.0 + 0.05 * smooth_field(rng, (p, p), 5.0)[..., None]
    tumour = _mix(_TUMOUR_CYTOPLASM * cytoplasm, _TUMOUR_NUCLEUS, nuclei)
    sharp = np.stack([stroma, tumour])
    blurred = np.stack([periodic_blur(t, 5.0) for t in sharp])
    return {d: (_box_reduce(sharp, d), _box_reduce(blurred, d)) for d in LEVEL_DOWNSAMPLES}


def _box_reduce(stack: np.ndarray, d: int) -> np.ndarray:
    """Block means of (K, P, P, 3) textures over d×d blocks, repeated to span a whole tile.

    Tile origins are multiples of ``TILE`` and the period a multiple or divisor of it, so a
    tile's texture is always one plain slice of the result.
    """
    k, p, _, c = stack.shape
    reduced = stack.reshape(k, p // d, d, p // d, d, c).mean(axis=(2, 4))
    reps = max(1, TILE // (p // d))
    return np.tile(reduced, (1, reps, reps, 1)).astype(np.float32)


def _mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-pixel linear mix of colours (or images) ``a`` and ``b``."""
    weight = weight[..., None]
    return a * (1.0 - weight) + b * weight


def _tiles(
    layout: _Layout,
    textures: tuple[np.ndarray, np.ndarray],
    stain: np.ndarray,
    noise: np.ndarray,
    shape: tuple[int, int, int],
    downsample: int,
    seed: int,
) -> Iterator[np.ndarray]:
    """Render the tiles of one pyramid level, row by row, as (TILE, TILE, 3) uint8 arrays."""
    rows, cols = math.ceil(shape[0] / TILE), math.ceil(shape[1] / TILE)
    sharp, blurred = textures
    period = sharp.shape[1]
    step = 4 if MAP_DOWNSAMPLE // downsample >= 16 else 1
    for r in range(rows):
        for c in range(cols):
            ys = r * TILE + np.arange(TILE)
            xs = c * TILE + np.arange(TILE)
            # Level pixel centres in level-0 pixels, then in layout-grid cells.
            grid_y = (ys + 0.5) * downsample / MAP_DOWNSAMPLE - 0.5
            grid_x = (xs + 0.5) * downsample / MAP_DOWNSAMPLE - 0.5
            # The layout is smooth at the cell scale: where a cell spans 16+ pixels, sample
            # it every 4th pixel and repeat (4 px steps are invisible in a 16 px ramp).
            soft = bilinear(layout.soft, grid_y[step // 2 :: step], grid_x[step // 2 :: step])
            soft = soft.repeat(step, axis=0).repeat(step, axis=1)
            # Sensor noise: a window of the slide's noise block at a per-tile offset.
            oy, ox = np.random.default_rng([seed, downsample, r, c]).integers(0, TILE, 2)
            out = noise[oy : oy + TILE, ox : ox + TILE] + _BACKGROUND
            if soft[..., 0].any():
                a_tissue = smoothstep(soft[..., 0], 0.35, 0.65)[..., None]
                a_tumour = smoothstep(soft[..., 1], 0.35, 0.65)[..., None]
                a_blur = soft[..., 2:3]
                y0, x0 = (r * TILE) % period, (c * TILE) % period
                window = np.s_[:, y0 : y0 + TILE, x0 : x0 + TILE]
                tissue = _pick(sharp[window], a_tumour)
                if a_blur.any():
                    tissue = tissue * (1 - a_blur) + _pick(blurred[window], a_tumour) * a_blur
                out += (tissue * stain - _BACKGROUND) * a_tissue
            if soft[..., 3].any():
                out *= 1 - 0.85 * soft[..., 3:4] * (1 - layout.pen_colour / 255.0)
            yield np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _pick(pair: np.ndarray, a_tumour: np.ndarray) -> np.ndarray:
    """Stroma/tumour mix of one tile's (2, TILE, TILE, 3) texture pair."""
    return pair[0] * (1 - a_tumour) + pair[1] * a_tumour
