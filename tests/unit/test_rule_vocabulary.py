"""One CLI vocabulary in the rules: outputs are passed as ``--out…``, config fragments as
``--cfg``, and every subcommand a rule calls exists under its rule's name; the rules a retry
cannot help are not retried."""

from __future__ import annotations

import re

import pytest

from mmlego.cli import build_parser
from mmlego.models.catalogue import ENTRIES
from tests.conftest import REPO

RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
TEXT = {path.name: path.read_text() for path in RULE_FILES}


@pytest.mark.parametrize("name", sorted(TEXT))
def test_outputs_are_passed_as_out_flags_and_inputs_never_are(name):
    text = TEXT[name]
    for flag in re.findall(r"--([a-z0-9-]+) \{output", text):
        assert flag.startswith("out"), f"{name}: an output is passed as --{flag}"
    for flag in re.findall(r"--([a-z0-9-]+) \{input", text):
        assert not flag.startswith("out"), f"{name}: an input is passed as --{flag}"


@pytest.mark.parametrize("name", sorted(TEXT))
def test_config_fragments_are_passed_as_cfg(name):
    text = TEXT[name]
    json_params = set(re.findall(r"(\w+)=(?:lambda [^:]*: )?as_json\(", text))
    for param in json_params:
        flags = re.findall(rf"--([a-z-]+) \{{params\.{param}(?::q)?\}}", text)
        # A batched rule's `cfg` is its rerun trigger only: its steps (steps.smk) pass it.
        assert set(flags) <= {"cfg"}, f"{name}: params.{param} is passed as {flags}"
    for call in re.findall(r"(.{0,12})as_json\(", text):
        if name == "steps.smk":
            assert call.endswith('"--cfg", '), f"steps.smk passes a fragment as {call!r}"


def test_every_called_subcommand_exists():
    known = set(build_parser()._subparsers._group_actions[0].choices)
    called = {
        step
        for text in TEXT.values()
        for step in re.findall(r"mmlego --log \{log:q\} ([a-z-]+)", text)
    }
    called |= {entry.step for entry in ENTRIES if entry.step}  # combine.smk's, from the catalogue
    assert called and called <= known, sorted(called - known)


def _rule_blocks(text: str) -> list[str]:
    """Each rule's or checkpoint's text, up to the next one."""
    return re.split(r"^\s*(?:rule|checkpoint)\b", text, flags=re.M)[1:]


@pytest.mark.parametrize("name", sorted(TEXT))
def test_local_rules_and_table_reading_are_never_retried(name):
    # A local job reruns on the same host with the same requests, and reading the user's
    # tables fails only on their content: either would fail again (docs/reliability.md).
    for block in _rule_blocks(TEXT[name]):
        if "localrule: True" in block or "read-tables" in block:
            assert re.search(r"^\s*retries: 0$", block, flags=re.M), f"{name}: {block[:80]}"
