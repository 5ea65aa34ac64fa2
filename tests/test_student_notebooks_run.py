"""Each student notebook runs as a student meets it in Colab: unfilled, and filled in.

- Unfilled (as committed in ``book/student/``): every cell runs in a fresh kernel, and the
  only errors are the NotImplementedError of the notebook's own stubs. No NameError
  cascades from a stub into later cells, nothing else breaks.
- Filled (each stub's region put back from the chapter, as a student who solved every
  exercise would have it): no cell raises, and every self-check cell reports that all
  its checks passed. Its code is the chapter's code less the cells the student edition
  leaves out (worked demos, the book's machinery, glue), which the site build executed
  with every check passing (tests/test_notebooks.py compares those outputs). So instead
  of executing every chapter a third time, this file checks what that leaves open:
  - the filled notebook's code cells are the chapter's, in order, and each left-out cell
    is one the student edition may leave out (a filled notebook whose code differs fails);
  - no kept cell needs a name that only a left-out cell defines: in the unfilled run a
    stub's NotImplementedError can raise first and mask that NameError;
  - every self-check cell printed that all its checks passed in the build's execution.
"""

from __future__ import annotations

import builtins
import copy
import re
import time
from collections.abc import Callable

import nbformat
import pytest
from nbclient import NotebookClient

import cell_flow
import notebook_conventions as conventions
import editions
from editions import student_notebook
from notebook_conventions import CELL_TIMEOUT, CHECK_TAG
from notebook_fixtures import chapter_notebook
from support import ROOT
from test_notebooks import _built

CHECK_PASSED = re.compile(r": all \d+ checks passed$", re.M)
CHAPTERS = editions.chapters(ROOT)
# Names a Jupyter kernel (IPython) defines before the first cell runs.
KERNEL_NAMES = set(dir(builtins)) | {"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___"}


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


# ---------------------------------------------------------------- static: names and code


def needs_left_out(kept: list[nbformat.NotebookNode]) -> dict[str, set[str]]:
    """Kept cells (by id) that read a name no kept cell binds before them (functions: no kept cell at all)."""
    per_cell = [(cell.get("id"), *cell_flow.names(cell.source)) for cell in kept]
    everywhere = set().union(*(bound for _, bound, _, _ in per_cell)) | KERNEL_NAMES
    missing, before = {}, set(KERNEL_NAMES)
    for cell_id, bound, read, inner in per_cell:
        lacking = (read - before - bound) | (inner - everywhere)
        if lacking:
            missing[cell_id] = lacking
        before |= bound
    return missing


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The code cells, less the hand-in cell the student edition adds (tests/test_handin.py runs it)."""
    return [cell for cell in notebook.cells if cell.cell_type == "code" and "handin" not in cell.metadata.get("tags", [])]


def left_out_by_design(cell: nbformat.NotebookNode) -> bool:
    """A chapter cell the student edition may leave out: a worked demo, the book's machinery, glue only."""
    tags = cell.metadata.get("tags", [])
    return (conventions.SOLUTION_TAG in tags or "remove-cell" in tags
            or not student_notebook.without_glue(cell.source).strip())


def code_differences(filled: nbformat.NotebookNode, chapter: nbformat.NotebookNode) -> list[str]:
    """How the filled notebook's code departs from the chapter's less its left-out cells (empty: none)."""
    originals = {cell.get("id"): cell for cell in code_cells(chapter)}
    order = list(originals)
    problems, last = [], -1
    for cell in code_cells(filled):
        source = originals.get(cell.get("id"))
        if source is None:
            problems.append(f"{cell.get('id')}: not a cell of the chapter")
            continue
        if cell.source != student_notebook.without_glue(source.source):
            problems.append(f"{cell.get('id')}: code differs from the chapter's")
        if order.index(cell.get("id")) < last:
            problems.append(f"{cell.get('id')}: out of the chapter's order")
        last = order.index(cell.get("id"))
    kept = {cell.get("id") for cell in code_cells(filled)}
    problems += [f"{i}: left out, but neither a solution nor the book's machinery"
                 for i, cell in originals.items() if i not in kept and not left_out_by_design(cell)]
    return problems


def filled_notebook(chapter) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    source = nbformat.read(chapter, as_version=4)
    student = nbformat.read(editions.student_path(chapter), as_version=4)
    return student_notebook.filled(student, source), source


# ---------------------------------------------------------------- the chapters


def differs_from_the_chapter(chapter: nbformat.NotebookNode) -> Callable[[nbformat.NotebookNode], bool]:
    """Whether a student notebook's cell is not code the build executed (a stub, a cell of its own)."""
    built = {cell.get("id"): student_notebook.without_glue(cell.source) for cell in code_cells(chapter)}
    return lambda cell: built.get(cell.get("id")) != cell.source


@pytest.mark.slow(seconds={"06_shortcuts_transfer": 34}, default=16)
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_unfilled_student_notebook_raises_only_its_stubs(chapter):
    """Every cell whose inputs differ from the build's runs (the long cells that read no stub were
    executed by the build: tests/cell_flow.py), and the only errors are the stubs'."""
    notebook = nbformat.read(editions.student_path(chapter), as_version=4)
    cells = cell_flow.plan(code_cells(notebook), differs_from_the_chapter(nbformat.read(chapter, as_version=4)))
    executed, seconds = run(cell_flow.without(notebook, cells.skipped), allow_errors=True)
    assert cell_flow.skipped_name_errors(executed, cells.skipped_names) == []
    found = errors(executed)
    other = [(cell, name) for cell, name, tb in found if name != "NotImplementedError" or not from_a_stub(tb)]
    assert other == [], f"errors that are not a stub's NotImplementedError ({seconds:.0f} s)"
    stubs = [c for c in notebook.cells if conventions.STUB_TAG in c.metadata.get("tags", [])]
    if stubs:  # the stubs are reached: a student sees them fail until filled in
        assert found, "no stub raised: are the scaffold functions ever called?"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_filled_student_notebook_is_the_chapters_code(chapter):
    filled, source = filled_notebook(chapter)
    assert code_differences(filled, source) == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_filled_student_notebook_needs_no_left_out_cell(chapter):
    filled, _ = filled_notebook(chapter)
    assert needs_left_out(code_cells(filled)) == {}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_filled_student_notebook_passes_its_checks(chapter):
    # The filled code is the chapter's (above), and the build ran the chapter: its checks are the student's.
    filled, source = filled_notebook(chapter)
    checks = [c.get("id") for c in filled.cells if CHECK_TAG in c.metadata.get("tags", [])]
    stubs = [c for c in filled.cells if conventions.STUB_TAG in c.metadata.get("tags", [])]
    assert len(checks) >= (1 if stubs else 0), "a chapter with coding exercises checks them"
    built = {cell.get("id"): cell for cell in _built(source).cells}
    for cell_id in checks:
        text = "".join(out.get("text", "") for out in built[cell_id].outputs if out.output_type == "stream")
        assert CHECK_PASSED.search(text), f"check cell {cell_id} printed {text!r} in the build"


# ---------------------------------------------------------------- seeded defects


def _tiny() -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The fixture chapter and its filled student notebook."""
    source = chapter_notebook()
    return student_notebook.filled(student_notebook.student_notebook(source), source), source


def test_a_filled_notebook_whose_code_differs_is_caught():
    filled, source = _tiny()
    assert code_differences(filled, source) == []
    stub = next(c for c in filled.cells if conventions.STUB_TAG in c.metadata.get("tags", []))
    stub.source = stub.source.replace("return hidden_answer", "return hidden_answer + 1")
    assert code_differences(filled, source) == [f"{stub.get('id')}: code differs from the chapter's"]
    filled, source = _tiny()
    dropped = next(c for c in code_cells(filled) if conventions.STUB_TAG not in c.metadata.get("tags", [])
                   and not left_out_by_design(c) and c is not code_cells(filled)[0])
    filled.cells.remove(dropped)
    assert code_differences(filled, source) == [f"{dropped.get('id')}: left out, but neither a solution "
                                                "nor the book's machinery"]


def _needing_a_demo() -> nbformat.NotebookNode:
    """The fixture chapter, where a later kept cell uses a name its worked demo defines."""
    source = chapter_notebook()
    demo = next(c for c in code_cells(source) if conventions.SOLUTION_TAG in c.metadata.get("tags", [])
                and student_notebook.stub_source(c.source) is None)
    demo.source += "\ndemo_total = 21"
    last = copy.deepcopy(code_cells(source)[-1])
    last.id, last.source, last.outputs = "uses-demo", "print(tiny_sum(3), demo_total)", []
    source.cells.append(last)
    return source


def test_a_kept_cell_that_needs_a_left_out_cell_is_caught():
    filled, _ = _tiny()
    assert needs_left_out(code_cells(filled)) == {}
    source = _needing_a_demo()
    filled = student_notebook.filled(student_notebook.student_notebook(source), source)
    assert needs_left_out(code_cells(filled)) == {"uses-demo": {"demo_total"}}


def test_the_unfilled_run_alone_misses_it(tmp_path):
    # Why the check above exists: in the unfilled notebook the stub raises first.
    student = student_notebook.student_notebook(_needing_a_demo())
    executed, _ = run(student, allow_errors=True)
    [(cell_id, name, _)] = [e for e in errors(executed) if e[0] == "uses-demo"]
    assert name == "NotImplementedError"


def test_names_sees_functions_and_magics():
    bound, read, inner = cell_flow.names("%pip install x\nimport torch as t\ndef f(a):\n    return a + g + t.x\ny = f(h)")
    assert bound == {"t", "f", "y"} and read == {"f", "h", "get_ipython"} and inner == {"g", "t"}
