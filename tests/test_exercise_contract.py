"""The contract of every exercise graded by a check, in every chapter (the chapters' own cells).

For each ``check.<name>(<function>)`` call of a chapter's ``student-check`` cells
(:func:`notebook_conventions.exercises`):

- the chapter's worked solution (its scaffold cell, regions intact) passes the check, which
  prints exactly one line, ``<function>: all N checks passed``;
- an unfilled stub's ``NotImplementedError`` reaches the student unchanged (the check does not
  swallow it into a failure message);
- the autograder has hidden cases for the function (``bookgrader/chapters/chN.py``).

The per-chapter files (``test_check_chN*.py``) hold the typical wrong answers each check catches.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any

import nbformat
import pytest

import autograder
import notebook_conventions
from chapter_code import check_lets_a_stub_fail_as_itself, check_reports_one_line
from resnetbook import check

sys.path.insert(0, str(autograder.RUNTIME))  # bookgrader, as the archive ships it


def _graded() -> list[tuple[int, str, str, str]]:
    """``(chapter, notebook stem, check, function)`` for every check call of every chapter."""
    found = []
    for number, path in enumerate(notebook_conventions.chapters(), start=1):
        notebook = nbformat.read(path, as_version=4)
        found += [(number, path.stem, name, fn) for exercise in notebook_conventions.exercises(notebook, number)
                  for name, fn in exercise.checks]
    return found


GRADED = _graded()
IDS = [f"ch{number}-{fn}" for number, _, _, fn in GRADED]


@functools.cache
def _solutions(stem: str) -> dict[str, Any]:
    """The chapter's worked solutions by name: its import cell and scaffold cells run."""
    notebook = nbformat.read(notebook_conventions.ROOT / "book" / f"{stem}.ipynb", as_version=4)
    return notebook_conventions.reference_namespace(notebook, stem)


def test_every_chapter_with_checks_is_found():
    """The parametrization is not empty: chapters 2-7 grade exercises by checks."""
    assert sorted({number for number, *_ in GRADED}) == [2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("number, stem, name, fn", GRADED, ids=IDS)
def test_the_worked_solution_passes_with_one_line(number: int, stem: str, name: str, fn: str, capsys) -> None:
    solution = _solutions(stem)[fn]
    capsys.readouterr()
    check_reports_one_line(getattr(check, name), fn, solution, capsys)


@pytest.mark.parametrize("number, stem, name, fn", GRADED, ids=IDS)
def test_an_unfilled_stub_fails_as_itself(number: int, stem: str, name: str, fn: str) -> None:
    check_lets_a_stub_fail_as_itself(getattr(check, name))


@pytest.mark.parametrize("number, stem, name, fn", GRADED, ids=IDS)
def test_every_checked_function_has_hidden_cases(number: int, stem: str, name: str, fn: str) -> None:
    cases = importlib.import_module(f"bookgrader.chapters.ch{number}").CASES
    assert cases.get(fn), f"bookgrader/chapters/ch{number}.py has no hidden case for {fn}"
