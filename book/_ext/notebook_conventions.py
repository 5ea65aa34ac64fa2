"""The book's notebook conventions, read in one place.

Everything that reads how the book's files are written imports this module: the editions
(:mod:`editions`: the site, the student notebooks, the release), the autograder
(:mod:`autograder`), the scripts in ``scripts/`` and the tests. What it reads:

- the cell timeout, ``execute: timeout`` in ``_config.yml`` (:data:`CELL_TIMEOUT`);
- the chapter list, the ``.ipynb`` pages of ``_toc.yml`` in reading order (:func:`chapters`);
- MyST markup: directives (``:::{exercise}``, ``{solution-start}``...), ``:label:`` options and
  ``{glue}`` roles (the ``*_RE`` patterns);
- solution regions, ``### BEGIN SOLUTION`` / ``### END SOLUTION`` inside scaffold cells, as
  nbgrader marks them (:func:`replace_regions`, :func:`region_lines`);
- glued values, as the chapter's stored outputs show them (:func:`glued_values`);
- exercises with their points and the ``student-check`` cells that grade them
  (:func:`exercises`; the points' track markup is :mod:`editions.tracks`);
- reference cells: the import cell and the scaffold cells run with their regions intact, the
  worked solutions (:func:`reference_namespace`, :func:`reference`).
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from ast import literal_eval
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from nbformat import NotebookNode

if TYPE_CHECKING:
    from editions.tracks import Points

ROOT = Path(__file__).resolve().parents[2]

SOLUTION_TAG, STUB_TAG, ANSWER_TAG, CHECK_TAG = "solution", "student-stub", "student-answer", "student-check"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

_FENCE = r"(?P<fence>:{3,}|`{3,})"
_OPTIONS = r"(?:\n[ \t]*:[\w-]+:[^\n]*)*"
START_RE = re.compile(_FENCE + r"\{solution-start\}[ \t]+(?P<label>\S+)[^\n]*" + _OPTIONS + r"\n(?P=fence)")
END_RE = re.compile(_FENCE + r"\{solution-end\}[^\n]*" + _OPTIONS + r"\n(?P=fence)")
DIRECTIVE_RE = re.compile(
    r"^[ \t]*(?P<fence>:{3,}|`{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<arg>[^\n]*)\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$\n?",
    re.S | re.M,
)
LABEL_RE = re.compile(r"^[ \t]*:label:[ \t]*(\S+)", re.M)
SOLUTION_BLOCK_LABEL = re.compile(r"^[ \t]*(?::{3,}|`{3,})\{solution\}[ \t]+(\S+)", re.M)
GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>\w+))?\}`(?P<name>[\w.-]+)`")
GLUE_CALL = re.compile(r"""\bglue\(\s*["'](?P<name>[\w.-]+)["']""")


# ---------------------------------------------------------------- _config.yml and _toc.yml


def execute_config(root: Path = ROOT) -> dict:
    """``_config.yml``'s ``execute`` section: how the book build executes the chapters."""
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")).get("execute", {})


def cell_timeout(root: Path = ROOT) -> int:
    """Seconds a chapter's cell may run (``execute: timeout`` in ``_config.yml``)."""
    timeout = execute_config(root).get("timeout")
    if not isinstance(timeout, int) or timeout <= 0:
        raise ValueError(f"{root / '_config.yml'}: execute: timeout must be a positive number of seconds, not {timeout!r}")
    return timeout


CELL_TIMEOUT = cell_timeout()  # the book build's, which every other executor of the chapters uses


def toc_files(root: Path = ROOT) -> list[Path]:
    """Source files of the pages in ``root/_toc.yml``, in reading order (root page first)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = [toc["root"]] + [entry["file"] for entry in toc.get("chapters", [])]
    files = []
    for name in names:
        matches = [p for p in (root / f"{name}.ipynb", root / f"{name}.md") if p.exists()]
        if not matches:
            raise FileNotFoundError(f"_toc.yml lists {name}, which has no .ipynb or .md source")
        files.append(matches[0])
    return files


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks of ``_toc.yml``, in order: chapter n is ``chapters(root)[n - 1]``."""
    return [path for path in toc_files(root)[1:] if path.suffix == ".ipynb"]


# ---------------------------------------------------------------- solution regions


def replace_regions(source: str, stub: Callable[[str], list[str]], where: str = "") -> str | None:
    """``source`` with each BEGIN/END SOLUTION region replaced by ``stub(indent)``.

    Returns None when ``source`` has no region. Raises ValueError for an unbalanced or
    nested region. Also used on the package's modules by the student release.
    """
    out, indent, found = [], None, False
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if indent is not None:
                raise ValueError(f"{where}line {number}: {BEGIN} inside a region")
            indent, found = line[: len(line) - len(line.lstrip())], True
            out += [f"{indent}{text}\n" for text in stub(indent)]
        elif marker == END:
            if indent is None:
                raise ValueError(f"{where}line {number}: {END} without {BEGIN}")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError(f"{where}{BEGIN} has no {END}")
    return "".join(out).rstrip("\n") if found else None


def region_lines(source: str) -> list[str]:
    """The lines inside the BEGIN/END SOLUTION regions of ``source`` (the worked answer)."""
    inside, lines = False, []
    for line in source.splitlines():
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside:
            lines.append(line)
    return lines


# ---------------------------------------------------------------- glued values


def glued_values(notebook: NotebookNode) -> dict[str, str]:
    """Every value the chapter glued, as its stored output shows it (text, or markdown)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is None:
                continue
            data = {key.rsplit("/", 2)[-2] + "/" + key.rsplit("/", 1)[-1]: value for key, value in output.data.items()}
            text = data.get("text/markdown") or data.get("text/plain", "")
            try:
                text = str(literal_eval(text)) if "text/markdown" not in data else text
            except (SyntaxError, ValueError):
                pass
            values[name] = text
    return values


# ---------------------------------------------------------------- exercises and their points


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter: number (3.1), label, title, points, and the checks that grade it."""

    number: str
    label: str
    title: str
    points: int | None  # the same in every track that has the exercise; None when none or per track
    checks: tuple[tuple[str, str], ...]  # (check name, the notebook's function it is called on)
    marks: Points | None = None  # whose exercise it is, and its points in each track

    @property
    def name(self) -> str:
        """The test's name on Gradescope."""
        from editions.tracks import without_points

        return f"Exercise {self.number}: {without_points(self.title)}"

    def points_in(self, track: str | None) -> int | None:
        """The points in ``track`` (None: a book without tracks); None when that track has no such exercise."""
        return None if self.marks is None else self.marks.in_track(track)


def points(title: str) -> int | None:
    """The points written at the end of an exercise title, ``... (4 points)``; None when there are none
    or when they differ by track."""
    from editions.tracks import parse

    marks = parse(title)
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
    """Every exercise of the chapter, in order, with the checks (``student-check`` cells) that follow it."""
    from editions.tracks import parse

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
                marks = parse(title, where)
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


# ---------------------------------------------------------------- reference cells


def _python(source: str) -> str:
    """A cell's source without its IPython lines (``%magic``, ``!shell``)."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def reference_namespace(notebook: NotebookNode, where: str, cells: Iterable[NotebookNode] | None = None) -> dict:
    """The chapter's import cell run, then ``cells`` (default: every scaffold cell), regions intact.

    The import cell is the first code cell after the Colab setup cell. What the cells print is
    for the page, not the caller. Returns the namespace: the worked solutions by name.
    """
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    namespace: dict = {"__name__": f"reference_{where}"}
    chosen = [c for c in code if BEGIN in c.source] if cells is None else list(cells)
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in [code[1], *chosen]:
            exec(compile(_python(cell.source), f"{where}:{cell.get('id')}", "exec"), namespace)
    return namespace


def defining_cell(notebook: NotebookNode, name: str, where: str = "") -> NotebookNode:
    """The one code cell that defines ``name`` (``def name``, ``class name`` or ``name = ...``)."""
    pattern = re.compile(rf"^(?:def|class) {re.escape(name)}\b|^{re.escape(name)}\s*=", re.M)
    defining = [c for c in notebook.cells if c.cell_type == "code" and pattern.search(c.source)]
    if len(defining) != 1:
        raise LookupError(f"{where}{len(defining)} code cells define {name!r}, expected 1")
    return defining[0]


def reference(notebook: NotebookNode, name: str, where: str, extra_cells: tuple[str, ...] = ()) -> Any:
    """The object ``name`` as the chapter defines it (regions intact: the worked solution).

    ``extra_cells``: ids of further code cells to run first (definitions ``name`` needs).
    """
    extra = [c for c in notebook.cells if c.cell_type == "code" and c.get("id") in extra_cells]
    cells = [*extra, defining_cell(notebook, name, f"{where}: ")]
    return reference_namespace(notebook, where, cells)[name]
