"""Which optional outputs a study makes (``mmlego.evaluate.outputs``, issue 20 item 5)."""

from __future__ import annotations

import pytest

from mmlego.config import load_config
from mmlego.evaluate.outputs import paper_outputs, toy_figures
from tests.conftest import REPO

GENERIC = {"kind": "generic"}


@pytest.mark.parametrize(
    ("kinds", "chosen", "paper", "toy"),
    [
        (["generic"], None, False, False),
        (["generic", "generic"], True, False, True),  # asked for: the toy figures alone
        (["generic", "mimic"], None, True, True),  # one paper dataset is enough
        (["tcga"], None, True, True),
        (["isic"], False, True, False),  # switched off: the paper table stays
    ],
)
def test_paper_outputs_need_a_paper_dataset_and_toy_figures_follow_the_key(
    kinds, chosen, paper, toy
):
    config = {
        "datasets": {f"d{i}": {"kind": kind} for i, kind in enumerate(kinds)},
        "evaluate": {"toy_figures": chosen},
    }
    assert paper_outputs(config) is paper and toy_figures(config) is toy


def test_the_shipped_configs_default_to_both():
    for name in ("config.yaml", "paper.yaml"):
        config = load_config(REPO / "config" / name)
        assert config["evaluate"]["toy_figures"] is None  # the schema default
        assert paper_outputs(config) and toy_figures(config)
