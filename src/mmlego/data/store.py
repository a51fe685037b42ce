"""The modality store: one packed h5 file per (dataset, modality).

Layout of ``{ds}/modalities/{mod}.h5`` (DESIGN §3):

- ``ids``      (n,) utf-8 strings: patient ids, in the order of every other array
- ``present``  (n,) bool: the patient has this modality (absent patients keep an empty entry)
- attrs ``kind`` (vector | series | bag), ``modality``, ``type``, ``provenance`` (JSON)

and by kind:

- vector: ``values`` (n, F) float32 (NaN = missing, imputed per split on train only),
  ``feature_names`` (F,); optional ``categorical`` (n, C) strings with ``categorical_names``
  (one-hot encoded per split with the categories fitted on train).
- series: ``values`` (n, T, F) float32 with NaN where nothing was observed, ``mask`` (n, T, F)
  bool (True = observed in that bin), ``feature_names`` (F,).
- bag: ``values`` (total, D) float32 instances of all patients back to back, ``offsets``
  (n + 1,) int64 so that patient i owns ``values[offsets[i]:offsets[i + 1]]``; optional
  ``coords`` (total, 2) int64 and ``source`` (total,) strings (slide or image of each instance).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mmlego.utils.atomic import atomic_path

KINDS = ("vector", "series", "bag")
_STR = h5py.string_dtype("utf-8")


@dataclass
class ModalityData:
    """In-memory form of one modality for a set of patients."""

    name: str
    kind: str
    ids: np.ndarray
    present: np.ndarray
    values: np.ndarray
    feature_names: list[str] = field(default_factory=list)
    mask: np.ndarray | None = None
    offsets: np.ndarray | None = None
    categorical: np.ndarray | None = None
    categorical_names: list[str] = field(default_factory=list)
    coords: np.ndarray | None = None
    type: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"modality {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        self.ids = np.asarray(self.ids, dtype=object).astype(str)
        self.present = np.asarray(self.present, dtype=bool)
        n = len(self.ids)
        if len(self.present) != n:
            raise ValueError(
                f"modality {self.name!r}: {len(self.present)} presence flags for {n} ids"
            )
        if len(set(self.ids.tolist())) != n:
            dupes = sorted({i for i in self.ids.tolist() if (self.ids == i).sum() > 1})
            raise ValueError(f"modality {self.name!r}: duplicate patient ids {dupes[:10]}")
        if self.kind == "bag":
            if self.offsets is None or len(self.offsets) != n + 1:
                raise ValueError(f"modality {self.name!r}: a bag needs n + 1 = {n + 1} offsets")
            self.offsets = np.asarray(self.offsets, dtype=np.int64)
            if (
                self.offsets[0] != 0
                or np.any(np.diff(self.offsets) < 0)
                or self.offsets[-1] != len(self.values)
            ):
                raise ValueError(
                    f"modality {self.name!r}: offsets must rise from 0 to the number of instances"
                )
        elif len(self.values) != n:
            raise ValueError(
                f"modality {self.name!r}: {len(self.values)} rows of values for {n} ids"
            )
        if self.kind == "series" and (self.mask is None or self.mask.shape != self.values.shape):
            raise ValueError(f"modality {self.name!r}: a series needs a mask of the values' shape")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        """Feature dimension of one instance / row / time step."""
        return int(self.values.shape[-1]) if self.values.ndim > 1 else 0

    def bag(self, i: int) -> np.ndarray:
        """The instances of patient ``i`` (bag kind only)."""
        assert self.offsets is not None
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def index_of(self, ids: Any) -> np.ndarray:
        """Positions of ``ids`` in this modality; raises naming ids that are not here."""
        lookup = {pid: k for k, pid in enumerate(self.ids.tolist())}
        wanted = [str(i) for i in ids]
        missing = [i for i in wanted if i not in lookup]
        if missing:
            raise KeyError(f"modality {self.name!r} has no entry for patient ids {missing[:10]}")
        return np.array([lookup[i] for i in wanted], dtype=np.int64)

    def subset(self, ids: Any) -> ModalityData:
        """A copy restricted to ``ids``, in that order."""
        idx = self.index_of(ids)
        common = {"ids": self.ids[idx], "present": self.present[idx]}
        if self.categorical is not None:
            common["categorical"] = self.categorical[idx]
        if self.kind == "bag":
            assert self.offsets is not None
            pieces = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in idx]
            rows = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
            sizes = np.array([len(p) for p in pieces], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            coords = self.coords[rows] if self.coords is not None else None
            return replace(self, values=self.values[rows], offsets=offsets, coords=coords, **common)
        mask = self.mask[idx] if self.mask is not None else None
        return replace(self, values=self.values[idx], mask=mask, **common)


def write_modality(path: str | Path, data: ModalityData, *, provenance: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically, with the provenance record in the attrs."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["kind"] = data.kind
        h5.attrs["modality"] = data.name
        h5.attrs["type"] = data.type
        h5.attrs["attrs"] = json.dumps(data.attrs, sort_keys=True, default=str)
        h5.attrs["provenance"] = json.dumps(provenance, sort_keys=True, default=str)
        h5.create_dataset("ids", data=data.ids.astype(object), dtype=_STR)
        h5.create_dataset("present", data=data.present)
        h5.create_dataset(
            "values",
            data=np.asarray(data.values, dtype=np.float32),
            chunks=True if data.values.size else None,
        )
        h5.create_dataset(
            "feature_names", data=np.array(data.feature_names, dtype=object), dtype=_STR
        )
        if data.mask is not None:
            h5.create_dataset("mask", data=data.mask.astype(bool))
        if data.offsets is not None:
            h5.create_dataset("offsets", data=data.offsets.astype(np.int64))
        if data.coords is not None:
            h5.create_dataset("coords", data=data.coords.astype(np.int64))
        if data.categorical is not None:
            h5.create_dataset(
                "categorical", data=data.categorical.astype(str).astype(object), dtype=_STR
            )
            h5.create_dataset(
                "categorical_names", data=np.array(data.categorical_names, dtype=object), dtype=_STR
            )


def _strings(dataset: h5py.Dataset) -> np.ndarray:
    return dataset.asstr()[...].astype(str) if len(dataset) else np.zeros(0, dtype=str)


@contextmanager
def _open_store(path: Path) -> Iterator[h5py.File]:
    """Open a store for reading; an unreadable, truncated or incomplete file raises naming it."""
    try:
        with h5py.File(path, "r") as h5:
            yield h5
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path}: modality store not found; rerun its job") from err
    except (OSError, KeyError) as err:
        # OSError: not HDF5 or cut short (an interrupted copy, a full disk); KeyError: a
        # dataset or attribute the layout needs is missing.
        raise ValueError(
            f"{path}: not a readable modality store h5 file ({err}); delete it and rerun"
        ) from err


def read_modality(path: str | Path) -> ModalityData:
    """Read a modality file written by :func:`write_modality`; raises naming the file if it is not one."""
    path = Path(path)
    with _open_store(path) as h5:
        missing = [k for k in ("ids", "present", "values", "feature_names") if k not in h5]
        if missing or "kind" not in h5.attrs:
            raise ValueError(
                f"{path}: modality store is missing {missing or ['attr kind']}; delete it and rerun"
            )
        categorical = h5["categorical"].asstr()[...] if "categorical" in h5 else None
        return ModalityData(
            name=str(h5.attrs["modality"]),
            kind=str(h5.attrs["kind"]),
            type=str(h5.attrs.get("type", "")),
            ids=_strings(h5["ids"]),
            present=h5["present"][...],
            values=h5["values"][...],
            feature_names=_strings(h5["feature_names"]).tolist(),
            mask=h5["mask"][...] if "mask" in h5 else None,
            offsets=h5["offsets"][...] if "offsets" in h5 else None,
            coords=h5["coords"][...] if "coords" in h5 else None,
            categorical=categorical,
            categorical_names=_strings(h5["categorical_names"]).tolist()
            if "categorical_names" in h5
            else [],
            attrs=json.loads(h5.attrs.get("attrs", "{}")),
        )


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance record stored in an h5 file's attrs."""
    with _open_store(Path(path)) as h5:
        return json.loads(h5.attrs["provenance"])


def read_presence(path: str | Path) -> dict[str, bool]:
    """``{patient_id: present}`` of a modality store, without reading its values."""
    with _open_store(Path(path)) as h5:
        return dict(zip(_strings(h5["ids"]).tolist(), h5["present"][...].tolist(), strict=True))
