"""Generate the student notebooks from the chapter notebooks (one source, two editions).

    book/0N_name.ipynb  (instructor source: problems and worked solutions)
 -> book/student/0N_name.ipynb  (problems only; what the Colab buttons open)

In a student notebook:
- every code cell of a worked solution (between the ``solution-start`` and
  ``solution-end`` markdown cells, all tagged ``solution``) becomes a stub:
  ``# TODO`` and ``raise NotImplementedError``;
- the solution's markdown cells and the start/end markers are dropped, and so is
  any single-block ``{solution}`` directive;
- ``{exercise}`` blocks become plain markdown (Colab does not render MyST);
- no cell keeps an output: students run the notebook themselves.

The student notebooks are committed (Colab opens a path on GitHub), so
``tests/test_student_edition.py`` checks that they match this script's output.

Usage: python scripts/student_edition.py [--check]   (make student)
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
STUDENT_DIR = BOOK / "student"
SOLUTION_TAG = "solution"
STUB_TAG = "student-stub"

# A gated marker cell holds only the directive: fence, name, options, fence.
_FENCE = r"(?P<fence>:{3,}|`{3,})"
_OPTIONS = r"(?:\n[ \t]*:[\w-]+:[^\n]*)*"
START_RE = re.compile(_FENCE + r"\{solution-start\}[ \t]+(?P<label>\S+)[^\n]*" + _OPTIONS + r"\n(?P=fence)")
END_RE = re.compile(_FENCE + r"\{solution-end\}[^\n]*" + _OPTIONS + r"\n(?P=fence)")
# A single-block solution directive inside a markdown cell (text-only answers).
SOLUTION_BLOCK_RE = re.compile(
    r"^[ \t]*(?P<fence>:{3,}|`{3,})\{solution\}.*?^[ \t]*(?P=fence)[ \t]*$\n?", re.S | re.M
)
EXERCISE_RE = re.compile(
    r"^[ \t]*(?P<fence>:{3,}|`{3,})\{exercise\}[ \t]*(?P<title>[^\n]*)\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.S | re.M,
)
LABEL_RE = re.compile(r":label:[ \t]*(\S+)")


def chapter_sources(book: Path = BOOK) -> list[Path]:
    """The chapter notebooks that have a student edition: ``book/0*.ipynb``."""
    return sorted(book.glob("0*.ipynb"))


def student_path(source: Path) -> Path:
    """Where the student notebook of ``source`` lives: ``<folder>/student/<name>``."""
    return source.parent / "student" / source.name


def stub_cell(cell: NotebookNode, label: str, part: int = 1, parts: int = 1) -> NotebookNode:
    """A code cell that asks for (part ``part`` of) the solution of exercise ``label``; keeps the cell id."""
    which = f"exercise {label}" + (f", part {part} of {parts}" if parts > 1 else "")
    stub = nbformat.v4.new_code_cell(
        f"# TODO: your solution to {which} (stated above).\n"
        f'raise NotImplementedError("{which}: replace this line with your code")'
    )
    if "id" in cell:
        stub["id"] = cell["id"]
    else:  # nbformat < 4.5 has no ids; a random one would make the output unstable
        del stub["id"]
    stub.metadata["tags"] = [STUB_TAG]
    return stub


def plain_exercises(markdown: str) -> str:
    """``{exercise}`` blocks as plain markdown, so Colab shows them as text."""

    def replace(match: re.Match) -> str:
        label = LABEL_RE.search(match["options"])
        title = match["title"].strip()
        heading = "**Exercise" + (f" ({label.group(1)})" if label else "") + (f": {title}**" if title else "**")
        return f"{heading}\n\n{match['body'].strip()}"

    return EXERCISE_RE.sub(replace, markdown)


def _marker(cell: NotebookNode, name: str, pattern: re.Pattern) -> re.Match | None:
    """The match when ``cell`` is a ``name`` marker cell; ValueError when it is malformed."""
    if cell.cell_type != "markdown" or f"{{{name}}}" not in cell.source:
        return None
    match = pattern.fullmatch(cell.source.strip())
    if match is None:
        raise ValueError(f"cell {cell.get('id')!r}: a {name} cell must hold only the directive")
    return match


def student_notebook(source: NotebookNode) -> NotebookNode:
    """The student edition of one chapter notebook (see the module docstring).

    Raises ValueError when the solution markers are unbalanced or nested, or when a
    ``solution``-tagged cell sits outside a solution, or a solution code cell lacks the tag.
    """
    notebook = copy.deepcopy(source)
    cells, open_label, solution_code = [], None, []
    for cell in notebook.cells:
        where = f"cell {cell.get('id')!r}"
        tagged = SOLUTION_TAG in cell.metadata.get("tags", [])
        if (start := _marker(cell, "solution-start", START_RE)) is not None:
            if open_label is not None:
                raise ValueError(f"{where}: solution-start inside solution {open_label!r}")
            open_label, solution_code = start["label"], []
        elif _marker(cell, "solution-end", END_RE) is not None:
            if open_label is None:
                raise ValueError(f"{where}: solution-end without a solution-start")
            parts = len(solution_code)
            cells += [stub_cell(c, open_label, k, parts) for k, c in enumerate(solution_code, start=1)]
            open_label = None
        elif open_label is not None:
            if cell.cell_type == "code":
                if not tagged:
                    raise ValueError(f"{where}: code cell inside solution {open_label!r} lacks the tag {SOLUTION_TAG!r}")
                solution_code.append(cell)
        elif tagged:
            raise ValueError(f"{where}: tagged {SOLUTION_TAG!r} but outside solution-start/solution-end")
        elif (kept := _student_cell(cell)) is not None:
            cells.append(kept)
    if open_label is not None:
        raise ValueError(f"solution {open_label!r} has no solution-end")
    notebook.cells = cells
    return notebook


def _student_cell(cell: NotebookNode) -> NotebookNode | None:
    """A narrative or demo cell without outputs and MyST-only blocks (None: nothing left)."""
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    elif cell.cell_type == "markdown":
        cell.source = plain_exercises(SOLUTION_BLOCK_RE.sub("", cell.source)).strip("\n")
        if not cell.source.strip():
            return None
    return cell


def render(source: Path) -> str:
    """The student notebook of ``source``, as the text written to disk."""
    notebook = nbformat.read(source, as_version=4)
    return nbformat.writes(student_notebook(notebook)) + "\n"


def out_of_sync(book: Path = BOOK) -> list[str]:
    """Student notebooks that differ from what the sources generate, or have no source."""
    problems = []
    sources = chapter_sources(book)
    for source in sources:
        target = student_path(source)
        if not target.exists() or target.read_text(encoding="utf-8") != render(source):
            problems.append(str(target.relative_to(book.parent)))
    expected = {student_path(s).name for s in sources}
    for stale in sorted((book / "student").glob("*.ipynb")):
        if stale.name not in expected:
            problems.append(f"{stale.relative_to(book.parent)} (no source notebook)")
    return problems


def write_all(book: Path = BOOK) -> list[Path]:
    """Write every student notebook; delete those whose source is gone."""
    written = []
    for source in chapter_sources(book):
        target = student_path(source)
        target.parent.mkdir(exist_ok=True)
        target.write_text(render(source), encoding="utf-8")
        written.append(target)
    keep = {t.name for t in written}
    for stale in (book / "student").glob("*.ipynb"):
        if stale.name not in keep:
            stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of sync")
    args = parser.parse_args(argv)
    if args.check:
        problems = out_of_sync()
        for problem in problems:
            print(f"out of sync: {problem}  (run `make student`)")
        return 1 if problems else 0
    for path in write_all():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
