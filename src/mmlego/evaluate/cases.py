"""Which patients a run is scored on, from the presence flags of the dataset's modality stores.

Two scopes, both decided per patient:

- ``complete``: the patients who have every modality of the dataset (the paper's "cohorts with
  multimodal data available"). Table 2, Fig. 2 and Fig. 3 score these, so every model is
  compared on the same patients.
- ``available``: the patients who have the run's own modality, for a run on one modality;
  every patient, for a run that takes all of them. ``tables/missing_modality.*`` scores
  these. A unimodal run's output for a patient without its modality is a constant prior, so it
  is never scored there, in either scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mmlego.models.catalogue import parse_run

SCOPES = ("complete", "available")
# {modality: {patient_id: has the modality}} of one dataset.
Presence = Mapping[str, Mapping[str, bool]]


def read_dataset_presence(stores: Mapping[str, str | Path]) -> dict[str, dict[str, bool]]:
    """The presence flags of every modality store of a dataset (``stores``: modality → h5)."""
    from mmlego.data.store import read_presence

    return {modality: read_presence(path) for modality, path in stores.items()}


def split_presence(modalities: Mapping[str, Any]) -> dict[str, dict[str, bool]]:
    """The presence flags of a loaded split's modalities (``SplitData.modalities``)."""
    return {
        name: dict(zip(mod.ids.tolist(), mod.present.tolist(), strict=True))
        for name, mod in modalities.items()
    }


def _flags(presence: Presence, modality: str, ids: list[str]) -> np.ndarray:
    flags = presence[modality]
    unknown = [i for i in ids if i not in flags]
    if unknown:
        raise ValueError(
            f"modality store {modality!r} has no entry for patients {unknown[:5]}; "
            "the store and the predictions are of different cohorts, rerun the store's job"
        )
    return np.array([bool(flags[i]) for i in ids], dtype=bool)


def run_modalities(run: str, presence: Presence) -> list[str]:
    """The modalities a run takes: its one modality, or every modality of the dataset."""
    _, modality = parse_run(run)
    if modality is None:
        return list(presence)
    if modality not in presence:
        raise ValueError(
            f"run {run!r} takes modality {modality!r}, but no store of it is given "
            f"(stores: {sorted(presence)}); pass --store {modality}=<its modalities/{modality}.h5>"
        )
    return [modality]


def scored_mask(ids: Iterable[str], presence: Presence, run: str, scope: str) -> np.ndarray:
    """Which of ``ids`` the run is scored on in ``scope`` (see the module docstring)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; one of {SCOPES}")
    ids = [str(i) for i in ids]
    own = run_modalities(run, presence)
    # In the available scope, a run on every modality is scored on every patient.
    multimodal = parse_run(run)[1] is None
    required = list(presence) if scope == "complete" else ([] if multimodal else own)
    keep = np.ones(len(ids), dtype=bool)
    for modality in required:
        keep &= _flags(presence, modality, ids)
    return keep
