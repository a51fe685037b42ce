"""A strict check of the pipe tables in a Markdown file (GitHub-flavoured).

A table is a run of lines that start with ``|``, after a blank line or at the top of the file.
Its first line is the header, its second the separator (``---`` cells, with optional ``:``),
and every line has the same number of cells. Renderers pad or drop cells silently, so a
malformed table (2 header cells over a 1-cell separator) still "renders"; this check does not.
"""

from __future__ import annotations

import re

SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")
# A cell boundary: a pipe not escaped as ``\|``.
PIPE = re.compile(r"(?<!\\)\|")


def cells(line: str) -> list[str] | None:
    """The cells of a table line, or None when it does not both start and end with a pipe."""
    line = line.strip()
    if len(line) < 2 or not (line.startswith("|") and line.endswith("|")) or line.endswith("\\|"):
        return None
    return [cell.strip() for cell in PIPE.split(line[1:-1])]


def table_problems(text: str) -> list[str]:
    """Every problem of the tables in ``text``, each naming its 1-based line; [] when valid."""
    lines = text.splitlines()
    problems: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("|"):
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            i += 1
        block = lines[start:i]
        where = f"table at line {start + 1}"
        if start > 0 and lines[start - 1].strip():
            problems.append(f"{where}: no blank line before it (it would join the paragraph)")
        parsed = [cells(line) for line in block]
        for n, row in enumerate(parsed):
            if row is None:
                problems.append(f"line {start + n + 1}: does not start and end with '|'")
        if len(block) < 2:
            problems.append(f"{where}: a header without a separator line")
            continue
        if parsed[0] is None or parsed[1] is None:
            continue
        if not all(SEPARATOR_CELL.match(cell) for cell in parsed[1]):
            problems.append(f"line {start + 2}: not a separator line ('| --- | --- |')")
        width = len(parsed[0])
        for n, row in enumerate(parsed[1:], start=1):
            if row is not None and len(row) != width:
                problems.append(f"line {start + n + 1}: {len(row)} cells, the header has {width}")
    return problems


def table_count(text: str) -> int:
    """How many tables ``text`` has (runs of lines that start with a pipe)."""
    starts = 0
    previous = False
    for line in text.splitlines():
        here = line.lstrip().startswith("|")
        starts += here and not previous
        previous = here
    return starts
