"""Names and settings of the feature stage that the workflow reads when it parses.

Kept apart from :mod:`mmlego.preprocess.pipeline`, which imports torch: the rule files need
only these two functions, and every snakemake start (twice per SLURM job) would otherwise
import torch, about a CPU-second and a half, for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmlego.utils.ids import safe_id


def feature_tag(encoder: Mapping[str, Any]) -> str:
    """Folder name for features made with these encoder settings (so settings never collide)."""
    weights = encoder.get("weights")
    source = safe_id(Path(weights).stem) if weights else "random"
    tag = f"{encoder['arch']}_{source}_{encoder['patch_size']}px_{encoder['mpp']:g}mpp"
    if encoder.get("input_size"):
        tag += f"_in{encoder['input_size']}"
    if encoder.get("precision", "fp32") != "fp32":
        tag += f"_{encoder['precision']}"
    return tag


def image_settings(dataset: Mapping[str, Any], modality: str) -> dict[str, Any]:
    """How a dataset's images become bags: ``mode`` (grid | whole) and resize ``size``.

    ISIC datasets set ``image_mode``/``image_size``; a generic image modality may set them on
    the modality; the defaults are a grid over the image resized to 512 px.
    """
    spec = dataset.get("modalities", {}).get(modality, dataset)
    return {"mode": spec.get("image_mode", "grid"), "size": int(spec.get("image_size", 512))}
