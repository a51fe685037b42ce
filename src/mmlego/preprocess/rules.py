"""Input functions of the feature rules (workflow/rules/features.smk).

They live here, not in the rule file, so the rule file holds rules only and the lookups are
plain Python. The items of a bag modality come from the ``manifest`` checkpoint.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mmlego import layout
from mmlego.data.kinds import bag_modalities, dataset_modalities
from mmlego.data.manifests import read_manifest
from mmlego.preprocess.naming import feature_tag, image_settings


@functools.cache
def _cached_manifest(path: str, mtime: float) -> pd.DataFrame:
    return read_manifest(path)


def mpp_fallback(config: Mapping[str, Any], ds: str) -> str:
    """Dataset ``ds``'s mpp fallback, else the preprocess section's ('none' when neither)."""
    value = config["datasets"][ds].get("mpp_fallback")
    if value is None:
        value = config["preprocess"]["mpp_fallback"]
    return "none" if value is None else str(value)


class FeatureInputs:
    """Paths, parameters and input functions of the feature stage for one config."""

    def __init__(self, config: Mapping[str, Any], checkpoints: Any) -> None:
        self.config = config
        self.checkpoints = checkpoints
        self.out = config["output_dir"]
        self.tag = feature_tag(config["encoder"])
        self.per_type = {
            "wsi": config["preprocess"]["slides_per_job"],
            "image": config["preprocess"]["images_per_job"],
        }
        self.types = {
            ds: {m.name: m.type for m in dataset_modalities(spec)}
            for ds, spec in config["datasets"].items()
        }
        self.bag_modalities = {
            ds: [m.name for m in bag_modalities(spec)] for ds, spec in config["datasets"].items()
        }

    def modalities_of_type(self, ds: str, mod_type: str) -> list[str]:
        """Bag modalities of ``ds`` whose data type is ``mod_type`` (wsi or image)."""
        return [m for m in self.bag_modalities.get(ds, []) if self.types[ds][m] == mod_type]

    def pattern(self, *mod_types: str) -> str:
        """Wildcard constraint matching the bag modalities of these types (nothing if none)."""
        names = {m for ds in self.types for t in mod_types for m in self.modalities_of_type(ds, t)}
        return "|".join(sorted(names)) or "(?!)"

    def manifest_file(self, wildcards: Any) -> str:
        """Path of the checkpointed manifest of (ds, mod)."""
        job = self.checkpoints.manifest.get(ds=wildcards.ds, mod=wildcards.mod)
        return job.output.manifest

    def manifest(self, wildcards: Any) -> pd.DataFrame:
        """The checkpointed manifest as a DataFrame (re-read when the file changes)."""
        path = self.manifest_file(wildcards)
        return _cached_manifest(str(path), Path(path).stat().st_mtime)

    def row(self, wildcards: Any) -> pd.Series:
        """The manifest row of one slide; raises naming the item when it is not listed."""
        frame = self.manifest(wildcards).set_index("item_id")
        if wildcards.item not in frame.index:
            raise ValueError(
                f"item {wildcards.item!r} is not in the {wildcards.ds}/{wildcards.mod} manifest"
            )
        return frame.loc[wildcards.item]

    def slide_path(self, wildcards: Any) -> str:
        """The slide file of one item."""
        return str(self.row(wildcards)["path"])

    def slide_mpp(self, wildcards: Any) -> str:
        """The manifest's mpp of a slide ('none' when blank: metadata or fallback then)."""
        mpp = self.row(wildcards)["mpp"]
        return "none" if pd.isna(mpp) else str(mpp)

    def mpp_fallback(self, wildcards: Any) -> str:
        """The dataset's mpp fallback, else the preprocess section's ('none' when neither)."""
        return mpp_fallback(self.config, wildcards.ds)

    def mod_type(self, wildcards: Any) -> str:
        """wsi or image."""
        return self.types[wildcards.ds][wildcards.mod]

    def per_job(self, wildcards: Any) -> int:
        """Items per encode job of (ds, mod)."""
        return self.per_type[self.mod_type(wildcards)]

    def shard_files(self, wildcards: Any) -> list[str]:
        """Slide or image files of one shard."""
        n, size = int(wildcards.shard), self.per_job(wildcards)
        return self.manifest(wildcards).iloc[n * size : (n + 1) * size]["path"].tolist()

    def item_files(self, wildcards: Any) -> list[str]:
        """The slide or image files of (ds, mod)."""
        return self.manifest(wildcards)["path"].tolist()

    def features(self, wildcards: Any) -> list[str]:
        """Every per-slide feature file, or every shard folder, of (ds, mod)."""
        root, mod = layout.dataset_dir(self.out, wildcards.ds), wildcards.mod
        size = self.per_job(wildcards)
        frame = self.manifest(wildcards)
        if self.mod_type(wildcards) == "wsi" and size == 1:
            return [layout.item_features(root, mod, self.tag, item) for item in frame["item_id"]]
        shards = range(max(1, math.ceil(len(frame) / size)))
        return [layout.feature_shard(root, mod, self.tag, n) for n in shards]

    def image_setting(self, key: str) -> Callable[[Any], Any]:
        """A params function for one value of :func:`image_settings` (mode or size)."""
        return lambda wildcards: image_settings(
            self.config["datasets"][wildcards.ds], wildcards.mod
        )[key]
