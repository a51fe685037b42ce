"""Transforms files: one split's per-modality files joined into one, and writing them.

Apart from :mod:`mmlego.data.transforms` (fitting and applying, numpy and pandas): joining
is JSON alone, and its job (one per split) should not pay for importing what it never uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmlego.utils.atomic import write_json_atomic

# The keys every modality file of a split holds alike: they depend on the labels and split only.
SPLIT_KEYS = ("split", "task", "n_out", "classes", "bin_cuts", "max_missing")


def join_transforms(parts: Sequence[str | Path]) -> dict[str, Any]:
    """One split's modality transforms files joined: their split keys, which must agree, and
    every modality's transform in the order of ``parts`` (the dataset's modality order)."""
    if not parts:
        raise ValueError("join-transforms was given no modality transforms file")
    joined: dict[str, Any] = {}
    modalities: dict[str, Any] = {}
    first = Path(parts[0])
    for part in parts:
        spec = json.loads(Path(part).read_text(encoding="utf-8"))
        head = {key: spec.get(key) for key in SPLIT_KEYS}
        if not joined:
            joined = head
        elif head != joined:
            differ = [key for key in SPLIT_KEYS if head[key] != joined[key]]
            raise ValueError(
                f"{part} and {first} disagree on {', '.join(differ)}: they were fitted on "
                "different splits or labels; delete the dataset's transforms folder and rerun"
            )
        for name, fitted in spec["modalities"].items():
            if name in modalities:
                raise ValueError(f"{part}: modality {name!r} is in another file given too")
            modalities[name] = fitted
    return {**joined, "modalities": modalities}


def write_transforms(
    out: str | Path, transforms: Mapping[str, Any], *, dataset: str, provenance: dict[str, Any]
) -> None:
    """Write a transforms file (``transforms/split{k}/{mod}.json`` or the joined one)."""
    write_json_atomic(out, {"dataset": dataset, **transforms}, provenance=provenance)
