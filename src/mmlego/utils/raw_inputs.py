"""Up-front check that a study's raw inputs exist, with where to obtain each one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

WHERE_TO_GET = {
    "tcga.slides": (
        "TCGA diagnostic slides: download the project's 'Slide Image' files (diagnostic, DX) "
        "from the NCI GDC data portal with the gdc-client"
    ),
    "tcga.table": (
        "the MCAT/PORPOISE tcga_<site>_all_clean.csv.zip table, distributed with the MCAT and "
        "PORPOISE code releases (mahmoodlab) in their dataset_csv folders"
    ),
    "mimic.mimic_dir": (
        "MIMIC-III Clinical Database v1.4: credentialed access on PhysioNet (complete the CITI "
        "training, sign the data use agreement), then download the CSV tables"
    ),
    "isic.images": (
        "SIIM-ISIC Melanoma Classification 2020: the training JPEGs from the challenge's download "
        "page (ISIC archive / challenge website)"
    ),
    "isic.metadata": "SIIM-ISIC 2020 train.csv (ground truth) from the challenge's download page",
    "generic": "your own file, named in your config",
}


def _raw_paths(ds: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(config key, path) of each raw input of a dataset."""
    kind = ds["kind"]
    if kind == "tcga":
        return [("slides", ds["slides"]), ("table", ds["table"])]
    if kind == "mimic":
        return [("mimic_dir", ds["mimic_dir"])]
    if kind == "isic":
        return [("images", ds["images"]), ("metadata", ds["metadata"])]
    paths = [("labels.path", ds["labels"]["path"])]
    for name, spec in ds["modalities"].items():
        key = "manifest" if spec["type"] in ("wsi", "image") else "path"
        paths.append((f"modalities.{name}.{key}", spec[key]))
    return paths


def missing_raw_inputs(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(config key, path, where to get it) for every raw input that does not exist.

    Paths under ``{output_dir}/raw`` are skipped when the demo generator is enabled, because
    the workflow's first rule writes them.
    """
    generated_root = Path(config.get("output_dir", "results"), "raw").resolve()
    demo = config.get("demo", {}).get("enabled", False)
    missing = []
    for name, ds in config["datasets"].items():
        for key, raw in _raw_paths(ds):
            path = Path(raw)
            if demo and path.resolve().is_relative_to(generated_root):
                continue
            if not path.exists():
                source = WHERE_TO_GET.get(f"{ds['kind']}.{key}", WHERE_TO_GET["generic"])
                missing.append((f"datasets.{name}.{key}", raw, source))
    return missing


def missing_raw_inputs_message(config: Mapping[str, Any]) -> str:
    """One message listing every missing raw input, or an empty string when all exist."""
    missing = missing_raw_inputs(config)
    if not missing:
        return ""
    lines = [f"{len(missing)} raw input(s) of this study do not exist:"]
    for key, path, source in missing:
        lines.append(f"  - {key} = {path}\n      obtain: {source}")
    lines.append(
        "Fill in the paths in your config (see config/README.md), or run the demo: make demo"
    )
    return "\n".join(lines)
