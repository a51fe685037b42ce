"""Datasets that read patches on demand, so DataLoader workers decode while the model runs.

Every item is a uint8 array (H, W, 3); nothing holds a slide in memory. Each worker opens
its own OpenSlide handle (handles are not shareable across processes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from mmlego.preprocess.grid import PatchGrid
from mmlego.preprocess.item_check import unreadable_image_error
from mmlego.preprocess.slide import Slide, resize_rgb


class SlidePatches(Dataset):
    """The patches of a :class:`PatchGrid`, read from the slide at the grid's level."""

    def __init__(self, path: str | Path, grid: PatchGrid, *, input_size: int | None = None):
        self.path = Path(path)
        self.coords = grid.coords
        self.level = grid.level
        self.read_size = grid.read_size
        self.out_size = input_size or grid.patch_size
        self._slide: Slide | None = None

    def __len__(self) -> int:
        return len(self.coords)

    def __getstate__(self) -> dict:
        # Workers receive the dataset pickled: the OpenSlide handle stays behind.
        return {**self.__dict__, "_slide": None}

    def __getitem__(self, index: int) -> np.ndarray:
        if self._slide is None:
            self._slide = Slide(self.path)
        x, y = self.coords[index]
        size = self.read_size
        patch = self._slide.read_region(x, y, self.level, size, size)
        return resize_rgb(patch, self.out_size, self.out_size)


def load_image(path: str | Path, size: int) -> np.ndarray:
    """An RGB uint8 image resized to ``size`` x ``size``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found; check the manifest path")
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise unreadable_image_error(path, err) from err
    return resize_rgb(rgb, size, size)


def image_grid(image_size: int, patch_size: int) -> np.ndarray:
    """(K, 2) x, y corners of the full non-overlapping patches of a square image, row-major."""
    n = image_size // patch_size
    if n < 1:
        raise ValueError(
            f"patch size {patch_size} is larger than the image size {image_size}; "
            "lower encoder.patch_size or raise the dataset's image_size, or use image_mode: whole"
        )
    ys, xs = np.meshgrid(np.arange(n) * patch_size, np.arange(n) * patch_size, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.int64)


class ImagePatches(Dataset):
    """Each item is one image's instances, (K, S, S, 3): a patch grid or the whole image."""

    def __init__(
        self,
        paths: list[Path],
        *,
        mode: str,
        image_size: int,
        patch_size: int,
        input_size: int | None = None,
    ):
        if mode not in ("grid", "whole"):
            raise ValueError(f"image_mode must be grid or whole, got {mode!r}")
        self.paths = [Path(p) for p in paths]
        self.mode = mode
        self.image_size = image_size
        self.patch_size = patch_size if mode == "grid" else image_size
        self.input_size = input_size or self.patch_size
        self.coords = (
            image_grid(image_size, patch_size)
            if mode == "grid"
            else np.zeros((1, 2), dtype=np.int64)
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        image = load_image(self.paths[index], self.image_size)
        side = self.patch_size
        patches = [image[y : y + side, x : x + side] for x, y in self.coords]
        return np.stack([resize_rgb(p, self.input_size, self.input_size) for p in patches])
