"""Classical reference models on the same splits, transforms and predictions as the others.

Each family is one function ``fit_<family>(data, *, split, <grid>..., modalities=None)`` that
takes a split loaded by :func:`mmlego.data.transforms.load_split` and returns a
:class:`~mmlego.models.classical.results.ClassicalFit`: the estimator of the setting chosen
on the validation patients, the setting and the validation curve of the whole grid, and the
rows of ``predictions.parquet`` for the val and test patients. The grid keywords are those of
the config section ``classical.<family>``, and ``select_on`` (``loss`` | ``metric``) that of
``classical.select_on``.
"""

from __future__ import annotations

from mmlego.models.classical.coxnet import fit_coxnet
from mmlego.models.classical.gbm import fit_gbm
from mmlego.models.classical.logistic import fit_logistic
from mmlego.models.classical.results import ClassicalFit

FAMILIES = {"coxnet": fit_coxnet, "logistic": fit_logistic, "gbm": fit_gbm}

__all__ = ["FAMILIES", "ClassicalFit", "fit_coxnet", "fit_gbm", "fit_logistic"]
