"""A chapter's graded exercises, read from the markers the chapters already carry.

- an exercise is a ``{exercise}`` block with a ``:label:`` (``ch3-bn-tensors``); its points
  are written at the end of its title, ``(4 points)``, and show on the site and in the
  student notebook (``### Exercise 3.1: The equation, tensor by tensor (4 points)``); in a
  book with tracks the title can also say whose exercise it is, ``(graduate only, 2 points)``
  or ``(undergraduate: 2 points; graduate: 3 points)`` (:mod:`editions.tracks`);
- the code a student writes is a scaffold cell (``### BEGIN SOLUTION`` regions), and its
  check is a ``student-check`` cell after the solution: ``check.bn_equation(bn_equation)``.
  Each check call belongs to the exercise above it; an exercise with checks is graded
  automatically, the others by hand.
"""

from __future__ import annotations

import ast
import contextlib
import io
from dataclasses import dataclass

from nbformat import NotebookNode

from editions import tracks as tracks_
from editions.student_notebook import BEGIN, DIRECTIVE_RE

CHECK_TAG = "student-check"
LABEL_RE = tracks_.LABEL_RE


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter: number (3.1), label, title, points, and the checks that grade it."""

    number: str
    label: str
    title: str
    points: int | None  # the same in every track that has the exercise; None when none or per track
    checks: tuple[tuple[str, str], ...]  # (check name, the notebook's function it is called on)
    marks: tracks_.Points | None = None  # whose exercise it is, and its points in each track

    @property
    def name(self) -> str:
        """The test's name on Gradescope."""
        return f"Exercise {self.number}: {tracks_.without_points(self.title)}"

    def points_in(self, track: str | None) -> int | None:
        """The points in ``track`` (None: a book without tracks); None when that track has no such exercise."""
        return None if self.marks is None else self.marks.in_track(track)


def points(title: str) -> int | None:
    """The points written at the end of an exercise title, ``... (4 points)``; None when there are none
    or when they differ by track."""
    marks = tracks_.parse(title)
    return None if marks is None else marks.same


def check_calls(source: str, where: str = "") -> list[tuple[str, str]]:
    """``(check, function)`` for each ``check.<check>(<function>)`` statement of a student-check cell."""
    calls = []
    for node in ast.parse(source).body:
        call = node.value if isinstance(node, ast.Expr) else None
        ok = (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
              and isinstance(call.func.value, ast.Name) and call.func.value.id == "check"
              and len(call.args) == 1 and isinstance(call.args[0], ast.Name) and not call.keywords)
        if not ok:
            raise ValueError(f"{where}a {CHECK_TAG} cell holds only check.<name>(<function>) calls, "
                             f"not {ast.unparse(node)!r}")
        calls.append((call.func.attr, call.args[0].id))
    return calls


def exercises(notebook: NotebookNode, chapter: int) -> list[Exercise]:
    """Every exercise of the chapter, in order, with the checks that follow it."""
    found: list[dict] = []
    for cell in notebook.cells:
        where = f"chapter {chapter}, cell {cell.get('id')!r}: "
        if cell.cell_type == "markdown":
            for match in DIRECTIVE_RE.finditer(cell.source):
                if match["name"] != "exercise":
                    continue
                label = LABEL_RE.search(match["options"])
                if label is None:
                    raise ValueError(f"{where}an exercise without a :label:")
                title = match["arg"].strip()
                marks = tracks_.parse(title, where)
                found.append({"number": f"{chapter}.{len(found) + 1}", "label": label.group(1), "title": title,
                              "points": None if marks is None else marks.same, "checks": [], "marks": marks})
        elif CHECK_TAG in cell.metadata.get("tags", []):
            if not found:
                raise ValueError(f"{where}a {CHECK_TAG} cell before the first exercise")
            found[-1]["checks"] += check_calls(cell.source, where)
    result = [Exercise(**{**e, "checks": tuple(e["checks"])}) for e in found]
    for exercise in result:
        if exercise.checks and exercise.marks is None:
            raise ValueError(f"chapter {chapter}: exercise {exercise.label} is graded by its checks but its title "
                             "gives no points: end it with (N points)")
    return result


def reference_functions(notebook: NotebookNode, where: str) -> dict:
    """The chapter's worked solutions: its import cell and scaffold cells run, regions intact.

    The import cell is the first code cell after the Colab setup cell. Run on the build
    machine only, to compute the reference values of the hidden cases.
    """
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    namespace: dict = {"__name__": f"reference_{where}"}
    with contextlib.redirect_stdout(io.StringIO()):  # what the import cell prints is for the page
        for cell in [code[1]] + [c for c in code if BEGIN in c.source]:
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            exec(compile(source, f"{where}:{cell.get('id')}", "exec"), namespace)
    return namespace
