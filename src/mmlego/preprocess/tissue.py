"""Tissue segmentation of a slide thumbnail: saturation threshold (Otsu), pen marks, morphology.

H&E tissue is stained pink to purple and therefore saturated, while glass is white or grey.
The threshold is Otsu's on the saturation channel, floored so a blank slide has no tissue.
Pen marks (red, green, blue, black ink) are saturated too, so they are found by hue and
darkness and removed before the morphological clean-up. Red ink sits next to eosin on the hue
circle: eosin's pink is magenta-red (about 320-340°) and at most moderately saturated, marker
red is pure red (about 345-20°) and strongly saturated, so red needs both. Red blood cells
share that colour; a haemorrhage larger than an ink stroke's minimum area may be taken for ink.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.filters import threshold_otsu
from skimage.morphology import (
    closing,
    dilation,
    disk,
    remove_small_holes,
    remove_small_objects,
)

# Minimum saturation of tissue: below it is glass, dust or scanner noise whatever Otsu says.
SATURATION_FLOOR = 0.08
# Coloured ink: (lowest hue°, highest hue°, minimum saturation) per band, so greyish pixels
# never count as ink. Green and blue lie away from H&E (hematoxylin's purple is above 255°);
# red is split at 0° and needs a higher saturation than eosin's pink reaches.
PEN_BANDS = (
    (75.0, 245.0, 0.2),  # green, cyan, blue
    (345.0, 360.0, 0.35),  # red, the side towards magenta
    (0.0, 20.0, 0.35),  # red, the side towards orange
)
# Black and grey ink: dark and unsaturated. Glass is bright and tissue is saturated, so a
# dark pixel with little colour is ink (or dirt) whatever its hue.
DARK_VALUE = 0.5
DARK_MAX_SATURATION = 0.2
# Ink is a stroke, not a speck: smaller ink-coloured blobs (dark nuclei clusters) stay tissue.
MIN_INK_UM2 = 2_000.0
# Ink edges blend with glass or tissue, so the pen mask grows by this many µm.
PEN_MARGIN_UM = 16.0


@dataclass(frozen=True)
class TissueParams:
    """Settings of :func:`segment_tissue` (sizes in µm so they hold at any thumbnail mpp)."""

    remove_pen: bool = True
    close_um: float = 4.0
    min_region_um2: float = 10_000.0
    max_hole_um2: float = 1_000.0


@dataclass(frozen=True)
class TissueMask:
    """Boolean tissue mask at the thumbnail's resolution, with what was removed as ink."""

    mask: np.ndarray
    pen: np.ndarray
    mpp: float
    saturation_threshold: float

    @property
    def fraction(self) -> float:
        """Fraction of the thumbnail that is tissue."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360), saturation and value in [0, 1], as float32 arrays."""
    rgbf = rgb.astype(np.float32) / 255.0
    r, g, b = rgbf[..., 0], rgbf[..., 1], rgbf[..., 2]
    # Element-wise over the three planes: the same floats as a reduction over the last axis,
    # which numpy runs about 30x slower on this strided length-3 axis.
    vmax = np.maximum(np.maximum(r, g), b)
    vmin = np.minimum(np.minimum(r, g), b)
    delta = vmax - vmin
    sat = np.where(vmax > 0, delta / np.maximum(vmax, 1e-6), 0.0).astype(np.float32)
    safe = np.maximum(delta, 1e-6)
    hue = np.select(
        [vmax == r, vmax == g],
        [((g - b) / safe) % 6.0, (b - r) / safe + 2.0],
        (r - g) / safe + 4.0,
    )
    hue = np.where(delta > 0, hue * 60.0, 0.0).astype(np.float32)
    return hue, sat, vmax


def pen_mask(
    rgb: np.ndarray, mpp: float, planes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Pixels of red, green, blue or black ink, grown by :data:`PEN_MARGIN_UM`; ``planes``:
    the thumbnail's :func:`hsv`, when the caller has it already."""
    hue, sat, value = planes if planes is not None else hsv(rgb)
    ink = (value < DARK_VALUE) & (sat < DARK_MAX_SATURATION)
    for low, high, min_sat in PEN_BANDS:
        ink |= (hue >= low) & (hue <= high) & (sat >= min_sat)
    ink = remove_small_objects(ink, max_size=int(MIN_INK_UM2 / (mpp * mpp)))
    margin = round(PEN_MARGIN_UM / mpp)
    if margin > 0 and ink.any():
        ink = dilation(ink, disk(margin))
    return ink


def segment_tissue(rgb: np.ndarray, mpp: float, params: TissueParams | None = None) -> TissueMask:
    """Tissue mask of an RGB uint8 thumbnail taken at ``mpp`` µm per pixel."""
    params = params or TissueParams()
    planes = hsv(rgb)
    sat = planes[1]
    pen = pen_mask(rgb, mpp, planes) if params.remove_pen else np.zeros(sat.shape, dtype=bool)
    # Otsu without the ink: saturated ink would otherwise pull the threshold above tissue.
    candidates = sat[~pen]
    threshold = SATURATION_FLOOR
    if candidates.size and candidates.max() > candidates.min():
        threshold = max(threshold, float(threshold_otsu(candidates)))
    tissue = (sat > threshold) & ~pen
    # Closing joins tissue speckled at the threshold: at least one pixel, whatever the mpp.
    tissue = closing(tissue, disk(max(1, round(params.close_um / mpp))))
    pixel_area = mpp * mpp
    tissue = remove_small_holes(tissue, max_size=int(params.max_hole_um2 / pixel_area))
    # Hole filling and closing must not bring ink back.
    tissue &= ~pen
    tissue = remove_small_objects(tissue, max_size=int(params.min_region_um2 / pixel_area))
    return TissueMask(mask=tissue, pen=pen, mpp=mpp, saturation_threshold=threshold)
