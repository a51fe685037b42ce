"""The strict pipe-table check the e2e tests run on every .md a study writes."""

from __future__ import annotations

from tests.markdown_tables import cells, table_count, table_problems

VALID = "Caption.\n\n| | a | b |\n| --- | :---: | ---: |\n| x | 1 | 2 |\n| **g** | | |\n\n- note\n"


def test_a_valid_table_and_plain_text_have_no_problem():
    assert table_problems(VALID) == [] and table_count(VALID) == 1
    assert table_problems("No dataset of this study is in the paper.\n") == []
    assert cells(r"| a \| b | c |") == [r"a \| b", "c"]  # an escaped pipe is not a boundary


def test_the_old_empty_paper_comparison_is_malformed():
    # What paper_comparison.md held for a study with no paper dataset before 64e5ba1.
    old = "Ours (mean ± std) / paper (difference). Paper: x\n\n| model |  |\n| --- |\n"
    assert table_problems(old) == ["line 4: 1 cells, the header has 2"]


def test_rows_separators_and_edges_are_checked():
    text = "| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n| 1 |\n"
    assert table_problems(text) == [
        "line 3: 3 cells, the header has 2",
        "line 4: 1 cells, the header has 2",
    ]
    assert table_problems("| a | b |\n| 1 | 2 |\n") == [
        "line 2: not a separator line ('| --- | --- |')"
    ]
    assert table_problems("| a | b |\n") == ["table at line 1: a header without a separator line"]
    assert table_problems("| a | b\n| --- | --- |\n") == ["line 1: does not start and end with '|'"]
    assert table_problems("text\n| a |\n| --- |\n") == [
        "table at line 2: no blank line before it (it would join the paragraph)"
    ]
