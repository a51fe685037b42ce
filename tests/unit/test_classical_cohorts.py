"""coxnet on two real cohorts that scikit-survival ships (GBSG2, WHAS500), through the project's
own data layer: labels, splits, a tabular store, the per-split transforms, ``load_split``, the
predictions file and the metrics step.

A Cox model's test c-index on these cohorts is about 0.68 (GBSG2) and 0.75-0.78 (WHAS500).
On one split's test set (~100 and ~75 patients) the standard error of a c-index is about
0.03, hence bands of +-0.06 around those values; and the whole pipeline must agree within
0.02 with scikit-survival's own ``CoxPHSurvivalAnalysis`` fitted on the same patients with
the library's one-hot encoding (a check of our features, not only of the model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.datasets import load_gbsg2, load_whas500
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.preprocessing import OneHotEncoder

from mmlego import layout
from mmlego.data.labels import write_labels
from mmlego.data.splits import make_splits
from mmlego.data.store import write_modality
from mmlego.data.tabular import split_columns, vector_modality
from mmlego.data.transforms import SplitFiles, fit_transforms, load_split, write_transforms
from mmlego.evaluate.score import score_predictions
from mmlego.models.classical import fit_coxnet
from mmlego.predictions import read_predictions, write_predictions
from mmlego.utils.atomic import write_json_atomic
from mmlego.utils.provenance import provenance

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def _dataset(root, name, loader):
    """Write the cohort as a dataset folder with one split; return (features, target, ids)."""
    x, y = loader()
    event, time = y.dtype.names
    ids = [f"{name}-{i:04d}" for i in range(len(x))]
    table = x.copy()
    table.index = pd.Index(ids)
    for column in table.columns:
        if isinstance(table[column].dtype, pd.CategoricalDtype):
            table[column] = table[column].astype(str)
    labels = pd.DataFrame(
        {"patient_id": ids, "time": y[time].astype(float), "event": y[event].astype(int)}
    )
    prov = provenance(None)
    write_labels(root / "labels.parquet", labels, "survival", provenance=prov)
    splits = make_splits(labels, "survival", repeats=1, fractions=FRACTIONS, seed=0, dataset=name)
    write_json_atomic(root / "splits.json", {"splits": splits}, provenance=prov)
    numeric, categorical = split_columns(table, list(table.columns))
    store = vector_modality(
        "clinical", "tabular", ids, table, numeric=numeric, categorical=categorical
    )
    write_modality(root / "modalities" / "clinical.h5", store, provenance=prov)
    store = {"clinical": layout.modality_store(str(root), "clinical")}
    fitted = fit_transforms(
        layout.labels(str(root)), layout.splits(str(root)), store, 0,
        modalities={"clinical": "vector"}, survival_bins=4, max_missing=0.5,
    )  # fmt: skip
    write_transforms(root / "transforms" / "split0.json", fitted, dataset=name, provenance=prov)
    return x, y, pd.Index(ids)


def _library_cox(x, y, ids, sets) -> float:
    """Test c-index of scikit-survival's Cox model (ridge alpha 0.1) on the same split."""
    encoded = OneHotEncoder().fit_transform(x).set_axis(ids)
    train, test = ids.isin(sets["train"]), ids.isin(sets["test"])
    scaled = (encoded - encoded[train].mean()) / encoded[train].std()
    model = CoxPHSurvivalAnalysis(alpha=0.1).fit(scaled[train], y[train])
    event, time = y.dtype.names
    return concordance_index_censored(y[test][event], y[test][time], model.predict(scaled[test]))[0]


@pytest.mark.parametrize(
    ("name", "loader", "published"), [("gbsg2", load_gbsg2, 0.68), ("whas500", load_whas500, 0.76)]
)
def test_coxnet_c_index_on_a_real_cohort_is_in_the_published_range(
    tmp_path, name, loader, published
):
    x, y, ids = _dataset(tmp_path, name, loader)
    root = str(tmp_path)
    files = SplitFiles(
        layout.labels(root), layout.splits(root), layout.transforms(root, 0),
        {"clinical": layout.modality_store(root, "clinical")},
    )  # fmt: skip
    data = load_split(files, 0)
    fit = fit_coxnet(data, split=0)
    meta = {"task": "survival", "bins": data.bins, "classes": None, "run": "coxnet"}
    write_predictions(tmp_path / "predictions.parquet", fit.frame, meta)
    scored = score_predictions(
        read_predictions(tmp_path / "predictions.parquet"), data.labels, data.sets, 0
    )
    c_index = scored["test"]["c_index"]
    assert abs(c_index - published) < 0.06, scored["test"]
    assert abs(c_index - _library_cox(x, y, ids, data.sets)) < 0.02
    assert np.isfinite(scored["test"]["c_index_uno"]) and 0 < scored["test"]["ibs"] < 0.25
