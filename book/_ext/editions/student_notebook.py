"""A chapter notebook's student edition: what Colab opens (make student).

In the student notebook:
- a *scaffold* cell of a worked solution (a ``solution``-tagged code cell holding
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions, as nbgrader marks them) keeps its
  signature, docstring and surrounding code; each region becomes ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()``. The cell is tagged ``student-stub``;
- the other cells of a worked solution (its demo code and explanation) are dropped, and
  an exercise without a scaffold gets a markdown cell to write the answer in;
- the markdown is plain Jupyter markdown: glued values are written in as the build
  computed them (the chapter's stored outputs), exercises become numbered headings
  (Exercise 4.2, as on the site), admonitions become block quotes;
- the book's own machinery is left out: ``glue`` calls, cells tagged ``remove-cell``
  (but the first code cell, which installs the package in Colab), all outputs;
- it ends with a "Hand in" section (:func:`handin_cells`, :mod:`resnetbook.handin`) and
  carries Colab's metadata for a GPU runtime (:func:`colab_metadata`).
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Iterator

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor
from nbformat import NotebookNode

from notebook_conventions import (ANSWER_TAG, DIRECTIVE_RE, END_RE, GLUE_ROLE, SOLUTION_BLOCK_LABEL, SOLUTION_TAG,
                                  START_RE, STUB_TAG, glued_values, replace_regions)

STUB_BODY = ("# YOUR CODE HERE", "raise NotImplementedError()")
ANSWER_TEXT = "**Your answer:** YOUR ANSWER HERE"
MYST_LEFTOVER = re.compile(r"\{[\w:-]+\}`|^[ \t]*:::|^[ \t]*`{3,}\{|^\([\w-]+\)=$", re.M)
ADMONITIONS = {"note": "Note", "tip": "Tip", "important": "Important", "warning": "Warning", "hint": "Hint"}


# ---------------------------------------------------------------- solution regions


def stub_source(source: str, where: str = "") -> str | None:
    """The student's version of a scaffold cell, or None when the cell has no region."""
    return replace_regions(source, lambda indent: list(STUB_BODY), where)


# ---------------------------------------------------------------- markdown


def plain_markdown(text: str, glue: dict[str, str], number_exercise: Callable[[], str], where: str = "") -> str:
    """MyST markdown as plain Jupyter markdown (see the module docstring)."""

    def directive(match: re.Match) -> str:
        name, arg, body = match["name"], match["arg"].strip(), match["body"].strip("\n")
        body = DIRECTIVE_RE.sub(directive, body)
        if name == "exercise":
            return f"### Exercise {number_exercise()}" + (f": {arg}" if arg else "") + f"\n\n{body}\n"
        if name == "only":
            return f"{body}\n" if arg == "student" else ""
        if name in ("solution", "solution-start", "solution-end"):
            return ""
        if name == "admonition" or name in ADMONITIONS:
            title = arg if name == "admonition" else ADMONITIONS[name]
            quoted = "\n".join(f"> {line}" if line else ">" for line in body.splitlines())
            return f"> **{title}**\n>\n{quoted}\n"
        raise ValueError(f"{where}no plain-markdown form for the directive {{{name}}}")

    def role(match: re.Match) -> str:
        if match["name"] not in glue:
            raise ValueError(f"{where}glue {match['name']!r} is not in the stored outputs: run `make outputs`")
        return glue[match["name"]]

    plain = GLUE_ROLE.sub(role, DIRECTIVE_RE.sub(directive, text))
    if (left := MYST_LEFTOVER.search(plain)) is not None:
        raise ValueError(f"{where}MyST markup left in the student notebook: {left.group()!r}")
    return re.sub(r"\n{3,}", "\n\n", plain).strip("\n")


# ---------------------------------------------------------------- code


def without_glue(source: str) -> str:
    """``source`` without the book's glue calls and the import of glue (Colab has no myst_nb)."""
    lines = source.splitlines()
    try:
        tree = ast.parse("\n".join("pass" if l.lstrip().startswith(("%", "!")) else l for l in lines))
    except SyntaxError:
        return source
    drop: set[int] = set()
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "glue":
            drop.update(range(node.lineno - 1, node.end_lineno))
        elif isinstance(node, ast.ImportFrom) and node.module == "myst_nb":
            drop.update(range(node.lineno - 1, node.end_lineno))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop).strip("\n")


# ---------------------------------------------------------------- the notebook


def by_place(notebook: NotebookNode) -> Iterator[tuple[NotebookNode, bool]]:
    """Each cell but the solution-start/-end markers, and whether it lies inside a worked solution."""
    inside = False
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and "{solution-start}" in cell.source:
            inside = True
        elif cell.cell_type == "markdown" and "{solution-end}" in cell.source:
            inside = False
        else:
            yield cell, inside


def _marker(cell: NotebookNode, name: str, pattern: re.Pattern) -> re.Match | None:
    """The match when ``cell`` is a ``name`` marker cell; ValueError when it is malformed."""
    if cell.cell_type != "markdown" or f"{{{name}}}" not in cell.source:
        return None
    match = pattern.fullmatch(cell.source.strip())
    if match is None:
        raise ValueError(f"cell {cell.get('id')!r}: a {name} cell must hold only the directive")
    return match


def _stub_cell(cell: NotebookNode, source: str) -> NotebookNode:
    stub = copy.deepcopy(cell)
    stub.source = source
    stub.metadata["tags"] = [STUB_TAG]
    return stub


def _answer_cell(label: str) -> NotebookNode:
    cell = nbformat.v4.new_markdown_cell(ANSWER_TEXT, id=f"{label}-answer")
    cell.metadata["tags"] = [ANSWER_TAG]
    return cell


def handin_cells(name: str) -> list[NotebookNode]:
    """The "Hand in" section: how to hand in, and the cell writing ``name``.ipynb and ``name``.pdf.

    The code cell is tagged ``otter_ignore``: the autograder does not run it.
    """
    text = (
        "## Hand in\n\n"
        "Hand in two files: the notebook (for the autograder) and its PDF (for the graders). "
        "First run every cell from the top (Colab: *Runtime > Run all*; Jupyter: *Run > Run All "
        "Cells*). In Jupyter or VS Code, then save the notebook (Ctrl+S).\n\n"
        "The cell below checks that every cell ran, in order, and names any that did not and any "
        f"exercise still to do. It writes `{name}.ipynb` and `{name}.pdf` (in Colab it downloads "
        "both; the first time it installs the PDF converter, which takes a few seconds)."
    )
    intro = nbformat.v4.new_markdown_cell(text, id="handin-intro")
    cell = nbformat.v4.new_code_cell(f'from resnetbook.handin import hand_in\n\nhand_in("{name}")', id="handin")
    cell.metadata["tags"] = ["handin", "otter_ignore"]
    return [intro, cell]


def colab_metadata(notebook: NotebookNode, gpu: str = "T4") -> None:
    """Make Colab open ``notebook`` on a GPU runtime (``accelerator`` and ``colab.gpuType``)."""
    notebook.metadata["accelerator"] = "GPU"
    notebook.metadata.setdefault("colab", {})["gpuType"] = gpu


def student_notebook(source: NotebookNode, chapter: int | None = None, name: str | None = None) -> NotebookNode:
    """The student edition of one chapter notebook (see the module docstring).

    ``chapter`` numbers the exercises (4 -> Exercise 4.1, 4.2, ...); ``name`` (the file's stem,
    ``04_looking_inside``) names the hand-in files (default: ``chapterNN``). Raises ValueError when
    the solution markers are unbalanced or nested, a ``solution``-tagged cell sits outside
    a solution, a solution's code cell lacks the tag, or markup has no plain form.
    """
    notebook, glue, count = copy.deepcopy(source), glued_values(source), [0]

    def number_exercise() -> str:
        count[0] += 1
        return f"{chapter}.{count[0]}" if chapter is not None else str(count[0])

    cells, open_label, stubs = [], None, []
    first_code = next((c.get("id") for c in notebook.cells if c.cell_type == "code"), None)
    for cell in notebook.cells:
        where = f"cell {cell.get('id')!r}: "
        tags = cell.metadata.get("tags", [])
        if (start := _marker(cell, "solution-start", START_RE)) is not None:
            if open_label is not None:
                raise ValueError(f"{where}solution-start inside solution {open_label!r}")
            open_label, stubs = start["label"], []
        elif _marker(cell, "solution-end", END_RE) is not None:
            if open_label is None:
                raise ValueError(f"{where}solution-end without a solution-start")
            cells += stubs or [_answer_cell(open_label)]
            open_label = None
        elif open_label is not None:
            if cell.cell_type == "code":
                if SOLUTION_TAG not in tags:
                    raise ValueError(f"{where}code cell inside solution {open_label!r} lacks the tag {SOLUTION_TAG!r}")
                if (stub := stub_source(cell.source, where)) is not None:
                    stubs.append(_stub_cell(cell, without_glue(stub)))
        elif SOLUTION_TAG in tags:
            raise ValueError(f"{where}tagged {SOLUTION_TAG!r} but outside solution-start/solution-end")
        elif cell.cell_type == "markdown":
            answered_here = SOLUTION_BLOCK_LABEL.findall(cell.source)  # a {solution} block in the text
            text = plain_markdown(cell.source, glue, number_exercise, where)
            if text.strip():
                cell.source = text
                cells.append(cell)
            cells += [_answer_cell(label) for label in answered_here]
        elif cell.cell_type == "code" and ("remove-cell" not in tags or cell.get("id") == first_code):
            cell.source = without_glue(cell.source)
            if cell.source.strip():
                cells.append(cell)
    if open_label is not None:
        raise ValueError(f"solution {open_label!r} has no solution-end")
    notebook.cells = cells + handin_cells(name or f"chapter{chapter or 0:02d}")
    notebook, _ = ClearOutputPreprocessor().preprocess(notebook, {})  # no outputs, no execution counts
    notebook.metadata.pop("widgets", None)
    colab_metadata(notebook)
    return notebook


def filled(student: NotebookNode, source: NotebookNode) -> NotebookNode:
    """``student`` with every stub's regions put back from ``source``: the reference answers."""
    originals = {cell.get("id"): cell.source for cell in source.cells}
    notebook = copy.deepcopy(student)
    for cell in notebook.cells:
        if STUB_TAG in cell.metadata.get("tags", []):
            cell.source = without_glue(originals[cell.get("id")])
    return notebook
