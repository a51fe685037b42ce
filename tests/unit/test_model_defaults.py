"""The model constructors' defaults are the config schema's: one source of defaults."""

from __future__ import annotations

import inspect

import pytest

from mmlego.config import load_schema
from mmlego.models.fuse import LegoFuse
from mmlego.models.lego import LegoBlock
from mmlego.models.merge import LegoMerge, LegoMergeAdaptive

DATA_ARGUMENTS = {"self", "modality", "kind", "in_dim", "n_out", "blocks"}


def _keyword_defaults(cls: type) -> dict[str, object]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters if p.name not in DATA_ARGUMENTS)
    return {p.name: p.default for p in parameters if p.name not in DATA_ARGUMENTS}


def _schema_defaults(section: str) -> dict[str, object]:
    properties = load_schema()["properties"][section]["properties"]
    return {key: spec["default"] for key, spec in properties.items()}


@pytest.mark.parametrize(("cls", "section"), [(LegoBlock, "lego"), (LegoMerge, "merge")])
def test_constructor_defaults_are_the_schema_section(cls, section):
    # merge.adaptive configures lego_merge_adaptive's λ search, not the merge itself.
    defaults = {k: v for k, v in _schema_defaults(section).items() if k != "adaptive"}
    assert _keyword_defaults(cls) == defaults


def test_adaptive_merge_defaults_are_the_merge_section_with_equal_weights():
    merge = {k: v for k, v in _schema_defaults("merge").items() if k != "adaptive"}
    assert _keyword_defaults(LegoMergeAdaptive) == {"weights": None, **merge}


def test_fuse_defaults_are_the_schema_fuse_mode_and_merge_head():
    assert _keyword_defaults(LegoFuse) == {
        "mode": _schema_defaults("fuse")["mode"],
        "head": _schema_defaults("merge")["head"],
    }
