"""The chapters' reference solutions, taken from the chapter notebooks themselves.

Worked solutions live in the chapters (inside ``### BEGIN SOLUTION`` regions of their
scaffold cells), not in the package. Tests of the self-checks get them here:
``reference("04_looking_inside", "normalize_tensor")`` executes the chapter's import cell
(the first code cell after the Colab setup cell) and then the code cell that defines
``normalize_tensor``, and returns the object (:func:`notebook_conventions.reference`).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import nbformat

import notebook_conventions
from support import ROOT


@functools.cache
def _notebook(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)


def reference(chapter: str, name: str, *, extra_cells: tuple[str, ...] = ()) -> Any:
    """The object ``name`` as the chapter defines it (regions intact: the worked solution).

    ``extra_cells``: ids of further code cells to run first (definitions ``name`` needs).
    """
    return notebook_conventions.reference(_notebook(chapter), name, chapter, extra_cells)


def worked_solutions(chapter: str, *names: str) -> SimpleNamespace:
    """The chapter's worked solutions of ``names``, as attributes: ``worked_solutions(CHAPTER, "f").f``."""
    return SimpleNamespace(**{name: reference(chapter, name) for name in names})


def check_reports_one_line(check_fn: Any, name: str, solution: Any, capsys: Any) -> None:
    """A self-check passes ``solution`` (a chapter's reference) and prints exactly its one line."""
    import re

    check_fn(solution)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"{name}: all \d+ checks passed", lines[0]), lines


def fails(check_fn: Any, answer: Any, message: str) -> None:
    """``check_fn`` rejects ``answer`` (a typical wrong answer) with a CheckFailed saying ``message``."""
    import pytest

    from resnetbook.check import CheckFailed

    with pytest.raises(CheckFailed, match=message):
        check_fn(answer)


def check_lets_a_stub_fail_as_itself(check_fn: Any) -> None:
    """An unfilled stub's NotImplementedError reaches the student unchanged."""
    import pytest

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        check_fn(stub)
