"""The chapters' reference solutions, taken from the chapter notebooks themselves.

Worked solutions live in the chapters (inside ``### BEGIN SOLUTION`` regions of their
scaffold cells), not in the package. Tests of the self-checks get them here:
``reference("04_looking_inside", "normalize_tensor")`` executes the chapter's import cell
(the first code cell after the Colab setup cell) and then the code cell that defines
``normalize_tensor``, and returns the object.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import nbformat

from support import ROOT

DEFINES = "^(?:def|class) {name}\\b|^{name}\\s*="


@functools.cache
def _cells(chapter: str) -> list:
    notebook = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _exec(source: str, namespace: dict, where: str) -> None:
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    exec(compile(code, where, "exec"), namespace)


def reference(chapter: str, name: str, *, extra_cells: tuple[str, ...] = ()) -> Any:
    """The object ``name`` as the chapter defines it (regions intact: the worked solution).

    ``extra_cells``: ids of further code cells to run first (definitions ``name`` needs).
    """
    cells = _cells(chapter)
    namespace: dict = {"__name__": f"chapter_{chapter}"}
    _exec(cells[1].source, namespace, f"{chapter}:imports")
    for cell in cells:
        if cell.get("id") in extra_cells:
            _exec(cell.source, namespace, f"{chapter}:{cell.get('id')}")
    pattern = re.compile(DEFINES.format(name=re.escape(name)), re.M)
    defining = [cell for cell in cells if pattern.search(cell.source)]
    if len(defining) != 1:
        raise LookupError(f"{chapter}: {len(defining)} code cells define {name!r}, expected 1")
    _exec(defining[0].source, namespace, f"{chapter}:{defining[0].get('id')}")
    return namespace[name]


def check_reports_one_line(check_fn: Any, name: str, solution: Any, capsys: Any) -> None:
    """A self-check passes ``solution`` (a chapter's reference) and prints exactly its one line."""
    import re

    check_fn(solution)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"{name}: all \d+ checks passed", lines[0]), lines


def check_lets_a_stub_fail_as_itself(check_fn: Any) -> None:
    """An unfilled stub's NotImplementedError reaches the student unchanged."""
    import pytest

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        check_fn(stub)
