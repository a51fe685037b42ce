"""Opening whole-slide images with OpenSlide: clear errors, resolution, levels, thumbnails.

Everything that touches a slide file goes through :class:`Slide`, so that a bad file fails
with one message naming it, and nothing ever reads a whole level into memory.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

# Levels whose resolution is within this relative tolerance of the target count as "at" it,
# so rounding in stored downsamples (e.g. 3.9999) never forces reading a 4x larger level.
LEVEL_TOLERANCE = 0.02
# Side of the tiles in which thumbnails are read, so memory stays bounded on any level.
THUMBNAIL_TILE = 2048


@dataclass(frozen=True)
class Resolution:
    """Microns per pixel at level 0 and where the value came from."""

    mpp: float
    source: str  # "manifest", "metadata" or "fallback"


def choose_level(base_mpp: float, downsamples: tuple[float, ...], target_mpp: float) -> int:
    """Index of the coarsest level whose resolution is at or finer than ``target_mpp``.

    Reading there and downscaling keeps all the detail the target asks for; when even level 0
    is coarser than the target, level 0 is used (and patches are upsampled).
    """
    best = 0
    for level, downsample in enumerate(downsamples):
        if base_mpp * downsample <= target_mpp * (1 + LEVEL_TOLERANCE) and (
            downsample > downsamples[best]
        ):
            best = level
    return best


def no_mpp_error(path: Path) -> ValueError:
    """The error of a slide whose resolution is nowhere: manifest, metadata or config."""
    return ValueError(
        f"{path}: the slide has no mpp metadata; add an 'mpp' column to the manifest, "
        "or set preprocess.mpp_fallback (or datasets.<name>.mpp_fallback) in the config"
    )


class Slide:
    """A whole-slide image opened with OpenSlide; errors name the file."""

    def __init__(self, path: str | Path) -> None:
        import openslide

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: slide file not found; check the manifest path")
        try:
            self._osr = openslide.OpenSlide(str(self.path))
        except openslide.OpenSlideUnsupportedFormatError as err:
            raise ValueError(
                f"{self.path}: not a slide format OpenSlide can read ({err}); "
                "remove it from the manifest or convert it to a pyramidal TIFF"
            ) from err
        except openslide.OpenSlideError as err:
            raise ValueError(
                f"{self.path}: the slide file is corrupt or truncated ({err}); "
                "re-download or re-export it"
            ) from err
        self.dimensions: tuple[int, int] = self._osr.dimensions
        self.downsamples: tuple[float, ...] = tuple(self._osr.level_downsamples)
        self.level_dimensions: tuple[tuple[int, int], ...] = tuple(self._osr.level_dimensions)

    def close(self) -> None:
        """Release the OpenSlide handle."""
        self._osr.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metadata_mpp(self) -> float | None:
        """Level-0 microns per pixel from the file's metadata, or None when absent."""
        import openslide

        values = []
        for key in (openslide.PROPERTY_NAME_MPP_X, openslide.PROPERTY_NAME_MPP_Y):
            try:
                values.append(float(self._osr.properties[key]))
            except (KeyError, ValueError):
                return None
        if not all(math.isfinite(v) and v > 0 for v in values):
            return None
        if not math.isclose(values[0], values[1], rel_tol=0.05):
            log.warning("%s: non-square pixels (mpp x %s, y %s); using x", self.path, *values)
        return values[0]

    def resolution(self, manifest_mpp: float | None, fallback_mpp: float | None) -> Resolution:
        """Level-0 mpp: the manifest's value, else the metadata, else the configured fallback."""
        metadata = self.metadata_mpp()
        if manifest_mpp is not None and math.isfinite(manifest_mpp):
            if metadata is not None and not math.isclose(metadata, manifest_mpp, rel_tol=0.05):
                log.warning(
                    "%s: manifest mpp %.4g differs from the slide metadata %.4g; using the manifest",
                    self.path,
                    manifest_mpp,
                    metadata,
                )
            return Resolution(float(manifest_mpp), "manifest")
        if metadata is not None:
            return Resolution(metadata, "metadata")
        if fallback_mpp is not None:
            log.warning(
                "%s: no mpp in the slide metadata; assuming the configured fallback %.4g µm/px",
                self.path,
                fallback_mpp,
            )
            return Resolution(float(fallback_mpp), "fallback")
        raise no_mpp_error(self.path)

    def read_region(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """RGB uint8 (height, width, 3) of a region; ``x, y`` in level-0 pixels.

        Transparent pixels (outside the scanned area) become white, like glass.
        """
        import openslide

        try:
            region = self._osr.read_region((int(x), int(y)), level, (int(width), int(height)))
        except openslide.OpenSlideError as err:
            raise RuntimeError(
                f"{self.path}: reading level {level} at ({x}, {y}) failed ({err}); "
                "the file is probably corrupt"
            ) from err
        if region.getchannel("A").getextrema()[0] > 0:
            # No transparent pixel (the usual case): PIL drops alpha faster than numpy.
            return np.asarray(region.convert("RGB"))
        rgba = np.asarray(region)
        rgb = rgba[..., :3].copy()
        transparent = rgba[..., 3] == 0
        rgb[transparent] = 255
        return rgb

    def thumbnail(self, mpp: float, base_mpp: float) -> tuple[np.ndarray, float]:
        """An RGB image of the whole slide at about ``mpp`` µm/px, and its exact mpp.

        The source level is read in tiles, each downscaled on its own, so memory is bounded
        by one tile plus the thumbnail whatever the slide size.
        """
        level = choose_level(base_mpp, self.downsamples, mpp)
        level_mpp = base_mpp * self.downsamples[level]
        width0, height0 = self.dimensions
        scale = base_mpp / mpp  # thumbnail pixels per level-0 pixel
        out_w, out_h = max(1, round(width0 * scale)), max(1, round(height0 * scale))
        thumb = np.full((out_h, out_w, 3), 255, dtype=np.uint8)
        level_w, level_h = self.level_dimensions[level]
        step = THUMBNAIL_TILE
        for ty in range(0, level_h, step):
            for tx in range(0, level_w, step):
                tw, th = min(step, level_w - tx), min(step, level_h - ty)
                # Output pixel range covered by this tile (in thumbnail coordinates).
                x0 = round(tx * level_mpp / mpp)
                y0 = round(ty * level_mpp / mpp)
                # The last tile of a row or column runs to the edge, so no margin stays blank.
                x1 = out_w if tx + tw >= level_w else min(out_w, round((tx + tw) * level_mpp / mpp))
                y1 = out_h if ty + th >= level_h else min(out_h, round((ty + th) * level_mpp / mpp))
                if x1 <= x0 or y1 <= y0:
                    continue
                x0_l0 = round(tx * self.downsamples[level])
                y0_l0 = round(ty * self.downsamples[level])
                tile = self.read_region(x0_l0, y0_l0, level, tw, th)
                thumb[y0:y1, x0:x1] = resize_rgb(tile, x1 - x0, y1 - y0)
        return thumb, width0 / out_w * base_mpp


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGB uint8 array; box filter when shrinking (anti-aliased), bilinear else."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    shrinking = width < rgb.shape[1] or height < rgb.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(rgb).resize((width, height), method))
