"""QC images of slides: the thumbnail, the tissue outline, ink, and the patches encoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.morphology import erosion

from mmlego.utils.atomic import atomic_path

OUTLINE = (0, 170, 0)
PEN = (255, 0, 255)
PATCH = (0, 60, 255)


def tissue_qc_image(
    thumbnail: np.ndarray,
    mask: np.ndarray,
    pen: np.ndarray,
    coords: np.ndarray,
    *,
    patch_size_level0: float,
    level0_width: int,
) -> Image.Image:
    """The thumbnail with the tissue outline (green), ink (magenta) and the patches (blue)."""
    canvas = thumbnail.copy()
    canvas[mask & ~erosion(mask)] = OUTLINE
    canvas[pen & ~erosion(pen)] = PEN
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    scale = thumbnail.shape[1] / level0_width
    side = patch_size_level0 * scale
    for x, y in np.asarray(coords).reshape(-1, 2):
        if x < 0 or y < 0:  # external files without coordinates
            continue
        x0, y0 = x * scale, y * scale
        draw.rectangle([x0, y0, x0 + side, y0 + side], outline=PATCH)
    return image


# zlib level 1: a slide thumbnail (noisy stain texture) compresses hardly better at the default
# level 6 (about 10 % smaller) and takes 4x as long, most of a QC image's cost.
PNG_COMPRESS_LEVEL = 1


def write_png(path: str | Path, image: Image.Image) -> None:
    """Save a PNG atomically."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
