"""Shared helpers of the feature-extraction tests: a config and a known-geometry TIFF writer."""

from __future__ import annotations

import numpy as np
import tifffile


def write_tiff(path, image: np.ndarray, *, mpp: float | None, downsamples=(1, 2, 4)) -> None:
    """A tiled, JPEG-compressed pyramidal TIFF (the layout OpenSlide reads as generic-tiff)."""
    with tifffile.TiffWriter(path) as tif:
        for i, ds in enumerate(downsamples):
            extra = {}
            if mpp is not None:
                extra = {"resolution": (1e4 / (mpp * ds),) * 2, "resolutionunit": "CENTIMETER"}
            tif.write(
                image[::ds, ::ds],
                tile=(256, 256),
                photometric="rgb",
                compression="jpeg",
                subfiletype=0 if i == 0 else 1,
                **extra,
            )


def config(**overrides) -> dict:
    encoder = {
        "arch": "resnet18",
        "weights": None,
        "patch_size": 64,
        "mpp": 1.0,
        "input_size": None,
        "precision": "fp32",
        "compile": False,
        "channels_last": True,
        "batch_size": 8,
        "num_workers": 0,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }
    preprocess = {
        "thumbnail_mpp": 8.0,
        "min_tissue_fraction": 0.5,
        "skip_slides_without_tissue": False,
        "max_patches_per_patient": 4096,
    }
    encoder.update(overrides.pop("encoder", {}))
    preprocess.update(overrides.pop("preprocess", {}))
    return {"encoder": encoder, "preprocess": preprocess, "seed": 0, "device": "cpu", **overrides}
