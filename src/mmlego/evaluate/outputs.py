"""Which of the study's optional outputs the config asks for (``get_final_output`` reads these).

The comparison with the paper's Table 2 is made only for a study with a dataset of a kind the
paper studied (tcga, mimic, isic): a user's own (``generic``) data has no paper number to sit
next to. The toy interference figures (Fig. 4/5) do not depend on the data; they follow
``evaluate.toy_figures``, whose default (``null``) is the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmlego.data.kinds import has_paper_dataset


def paper_outputs(config: Mapping[str, Any]) -> bool:
    """Whether the study makes the paper-only outputs (``tables/paper_comparison.*``)."""
    return has_paper_dataset(config["datasets"])


def toy_figures(config: Mapping[str, Any]) -> bool:
    """Whether the study makes Fig. 4/5: ``evaluate.toy_figures``, or when that is null (the
    default) whether it has a paper dataset."""
    chosen = config.get("evaluate", {}).get("toy_figures")
    return paper_outputs(config) if chosen is None else bool(chosen)
