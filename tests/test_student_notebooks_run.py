"""Each student notebook runs as a student meets it in Colab: unfilled, and filled in.

- Unfilled (as committed in ``book/student/``): every cell runs in a fresh kernel, and the
  only errors are the NotImplementedError of the notebook's own stubs. No NameError
  cascades from a stub into later cells, nothing else breaks.
- Filled (each stub's region put back from the chapter, as a student who solved every
  exercise would have it): no cell raises, and every self-check cell reports that all
  its checks passed.
"""

from __future__ import annotations

import re
import time

import nbformat
import pytest
from nbclient import NotebookClient

import editions
from support import ROOT
from editions import student_notebook

CELL_TIMEOUT = 900  # seconds, as the book build
CHECK_TAG = "student-check"
CHECK_PASSED = re.compile(r": all \d+ checks passed$", re.M)
CHAPTERS = editions.chapters(ROOT)


def run(notebook: nbformat.NotebookNode, allow_errors: bool) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``notebook`` in a fresh kernel in ``book/student`` (where Colab's copy lives).

    The hand-in cells are left out: they would write a PDF into ``book/student``
    (tests/test_handin.py runs them, in a temporary folder).
    """
    start = time.perf_counter()
    notebook.cells = [c for c in notebook.cells if "handin" not in c.metadata.get("tags", [])]
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(ROOT / "book" / "student")}},
    )
    client.execute()
    return notebook, time.perf_counter() - start


def errors(notebook: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    """(cell id, exception name, traceback) of every error a cell printed."""
    return [
        (cell.get("id"), out.ename, out.traceback)
        for cell in notebook.cells if cell.cell_type == "code"
        for out in cell.outputs if out.output_type == "error"
    ]


def from_a_stub(traceback: list[str]) -> bool:
    """Whether a traceback passes through a stub's body (the line ``raise NotImplementedError()``)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback))
    return student_notebook.STUB_BODY[1] in plain


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_unfilled_student_notebook_raises_only_its_stubs(chapter):
    notebook = nbformat.read(editions.student_path(chapter), as_version=4)
    executed, seconds = run(notebook, allow_errors=True)
    found = errors(executed)
    other = [(cell, name) for cell, name, tb in found if name != "NotImplementedError" or not from_a_stub(tb)]
    assert other == [], f"errors that are not a stub's NotImplementedError ({seconds:.0f} s)"
    stubs = [c for c in notebook.cells if student_notebook.STUB_TAG in c.metadata.get("tags", [])]
    if stubs:  # the stubs are reached: a student sees them fail until filled in
        assert found, "no stub raised: are the scaffold functions ever called?"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_filled_student_notebook_runs_and_passes_its_checks(chapter):
    source = nbformat.read(chapter, as_version=4)
    student = nbformat.read(editions.student_path(chapter), as_version=4)
    executed, seconds = run(student_notebook.filled(student, source), allow_errors=False)
    checks = [c for c in executed.cells if CHECK_TAG in c.metadata.get("tags", [])]
    for cell in checks:
        text = "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")
        assert CHECK_PASSED.search(text), f"check cell {cell.get('id')} printed {text!r}"
    stubs = [c for c in student.cells if student_notebook.STUB_TAG in c.metadata.get("tags", [])]
    assert len(checks) >= (1 if stubs else 0), "a chapter with coding exercises checks them"
