"""Student and instructor editions from one source (book/_ext/editions).

- The generator turns scaffold cells into stubs, drops the rest of each worked
  solution, writes plain markdown, and refuses malformed sources.
- The committed student notebooks (what Colab opens) match the generator's output
  and hold no solution code.
- A tiny book built in both editions: solutions behind toggles, or gone entirely.
- The built student edition of the real book (`make book EDITION=student`) leaks
  no line of solution code, on any page, in the search index or in a download.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import notebook_conventions as conventions
import editions
from support import ROOT, SCREENSHOTS, page_of, serve, toc_sources, visit
from editions import student_notebook
from notebook_fixtures import SECRET_CODE, SECRET_OUTPUT, SECRET_TEXT, chapter_notebook


SOURCES = editions.chapters(ROOT)
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
EXT = ROOT / "book" / "_ext"

MARKUP = re.compile(r"[`*$\[\]{}_<>|]")  # a markdown line with markup renders as other text


def student_of(notebook, number: int = 1):
    return student_notebook.student_notebook(notebook, number)


def narrative_lines(notebook) -> set[str]:
    """Lines a student gets: every line of the student notebook (stubs keep their signatures)."""
    return {line.strip() for c in student_of(notebook).cells for line in c.source.splitlines()}


def solution_lines(notebook, common: set[str] = frozenset()) -> set[str]:
    """Lines of the worked solutions specific enough that they must not appear anywhere else.

    The worked solutions are the regions of scaffold cells, the other code cells of a
    solution, and the markdown between solution-start and solution-end. A line also
    found in what a student gets (an import, a plot call, a stub's signature), or in
    ``common``, is not a leak, so it does not count; nor do short or comment-only lines,
    nor markdown lines with markup (their HTML differs).
    """
    solution = set()
    for cell, inside in student_notebook.by_place(notebook):
        if inside and cell.cell_type == "code":
            code = conventions.region_lines(cell.source) or cell.source.splitlines()
            solution.update(l.strip() for l in code if len(l.strip()) >= 16 and not l.strip().startswith("#"))
        elif inside:
            solution.update(l.strip() for l in cell.source.splitlines() if len(l.strip()) >= 30 and not MARKUP.search(l))
    return solution - narrative_lines(notebook) - common


# --- the generator -------------------------------------------------------------


def test_a_scaffold_keeps_its_signature_and_loses_its_region():
    student = student_of(chapter_notebook(), 3)
    text = nbformat.writes(student)
    for secret in (SECRET_CODE, SECRET_TEXT, SECRET_OUTPUT, "solution-start", "solution-end", "{solution}", "glue"):
        assert secret not in text
    [stub] = [c for c in student.cells if "student-stub" in c.metadata.get("tags", [])]
    assert stub.id == "c5"
    assert stub.source == (
        'def tiny_sum(n: int) -> int:\n    """The sum 0 + 1 + ... + n."""\n    if n < 0:\n'
        '        raise ValueError("n must be at least 0")\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    )
    namespace = {}
    exec(stub.source, namespace)  # defines the name later cells need ...
    with pytest.raises(NotImplementedError):  # ... whose body is the student's to write
        namespace["tiny_sum"](6)
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert [c.id for c in student.cells] == ["c0", "c1", "c2", "c3", "c5", "c8b", "c9", "tiny-why-answer", "c10", "handin-intro", "handin"]
    nbformat.validate(student)


def test_markdown_is_plain_jupyter_markdown():
    student = student_of(chapter_notebook(), 3)
    cells = {c.id: c.source for c in student.cells}
    assert cells["c0"] == "# A tiny chapter\n\n> **Learning goals**\n>\n> - Add numbers.\n\nSome math: $y = F(x) + x$."
    assert cells["c3"] == "The fact is 5.\n\n### Exercise 3.1: Add numbers\n\nWrite `tiny_sum(n)`."
    assert cells["c9"] == "### Exercise 3.2: Say why\n\nWhy 21?"
    assert cells["tiny-why-answer"] == student_notebook.ANSWER_TEXT
    assert "glue" not in cells["c2"] and "print('fact:', 2 + 3)" in cells["c2"]


def test_the_filled_notebook_has_the_reference_answers():
    source = chapter_notebook()
    filled = student_notebook.filled(student_of(source), source)
    [cell] = [c for c in filled.cells if c.id == "c5"]
    assert cell.source == source.cells[5].source


def test_the_source_notebook_is_left_alone():
    source = chapter_notebook()
    before = nbformat.writes(source)
    student_of(source)
    assert nbformat.writes(source) == before


def _region(cells, text):
    cells[5].source = text


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda cells: cells.__delitem__(slice(8, None)), "has no solution-end"),
        (lambda cells: cells.__delitem__(slice(4, 8)), "solution-end without a solution-start"),
        (lambda cells: cells[5].metadata.pop("tags"), "lacks the tag"),
        (lambda cells: cells[2].metadata.update(tags=["solution"]), "outside solution-start"),
        (lambda cells: cells.insert(6, nbformat.v4.new_markdown_cell(":::{solution-start} tiny-why\n:::")), "inside solution"),
        (lambda cells: setattr(cells[4], "source", cells[4].source + "\n\nMore text."), "only the directive"),
        (lambda cells: _region(cells, "x = 1\n### BEGIN SOLUTION\ny = 2"), "has no ### END SOLUTION"),
        (lambda cells: _region(cells, "### END SOLUTION"), "without ### BEGIN SOLUTION"),
        (lambda cells: setattr(cells[3], "source", "The fact is {glue:text}`unknown_name`."), "not in the stored outputs"),
        (lambda cells: setattr(cells[3], "source", ":::{figure} a.png\nA figure.\n:::"), "no plain-markdown form"),
        (lambda cells: setattr(cells[3], "source", "See {ref}`elsewhere`."), "MyST markup left"),
    ],
    ids=["unclosed", "unopened", "untagged-code", "tag-outside", "nested", "marker-with-text",
         "region-unclosed", "region-unopened", "unknown-glue", "unknown-directive", "unknown-role"],
)
def test_malformed_sources_are_refused(edit, message):
    source = chapter_notebook()
    edit(source.cells)
    with pytest.raises(ValueError, match=message):
        student_of(source)


def _tiny_root(tmp_path: Path) -> Path:
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_tiny\n")
    (tmp_path / "book" / "intro.md").write_text("# Tiny\n")
    nbformat.write(chapter_notebook(), tmp_path / "book" / "01_tiny.ipynb")
    return tmp_path


def test_check_mode_reports_drift(tmp_path):
    root = _tiny_root(tmp_path)
    assert editions.out_of_sync(root) == ["book/student/01_tiny.ipynb"]
    editions.write_all(root)
    assert editions.out_of_sync(root) == []
    (root / "book" / "student" / "09_gone.ipynb").write_text("{}")
    assert editions.out_of_sync(root) == ["book/student/09_gone.ipynb (no chapter)"]
    editions.write_all(root)
    assert not (root / "book" / "student" / "09_gone.ipynb").exists()


def test_the_chapters_are_the_ones_in_the_toc(tmp_path):
    root = _tiny_root(tmp_path)
    nbformat.write(chapter_notebook(), root / "book" / "02_not_in_toc.ipynb")
    assert editions.chapters(root) == [root / "book" / "01_tiny.ipynb"]
    assert [p.name for p in editions.chapters(ROOT)] == [p.name for p in toc_sources()[1:]]


# --- the committed student notebooks ------------------------------------------


def test_every_chapter_has_a_student_notebook_in_sync():
    assert SOURCES
    assert editions.out_of_sync(ROOT) == [], "run `make student` and commit book/student/"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_student_notebook_ends_with_hand_in_and_opens_on_a_colab_gpu(source):
    number = SOURCES.index(source) + 1
    student = student_notebook.student_notebook(nbformat.read(source, as_version=4), number, source.stem)
    heading, cell = student.cells[-2:]
    assert heading.source.startswith("## Hand in") and f"`{source.stem}.pdf`" in heading.source
    assert cell.source.endswith(f'hand_in("{source.stem}")')
    assert "otter_ignore" in cell.metadata["tags"], "the autograder must not run the hand-in cell"
    assert student.metadata["accelerator"] == "GPU" and student.metadata["colab"]["gpuType"] == "T4"
    assert [c.source for c in student.cells].count(cell.source) == 1


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_student_notebook_holds_no_solution_and_no_markup(source):
    notebook = nbformat.read(source, as_version=4)
    student_path = editions.student_path(source)
    student = nbformat.read(student_path, as_version=4)
    text = student_path.read_text(encoding="utf-8")
    leaked = [line for line in solution_lines(notebook) if line in text]
    assert leaked == []
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    markup = [(c.id, m.group()) for c in student.cells if c.cell_type == "markdown"
              for m in [student_notebook.MYST_LEFTOVER.search(c.source)] if m]
    assert markup == []
    scaffolds = sum(student_notebook.stub_source(c.source) is not None
                    for c in notebook.cells if "solution" in c.metadata.get("tags", []))
    assert sum("student-stub" in c.metadata.get("tags", []) for c in student.cells) == scaffolds


GLUE_DEFINED = re.compile(r"""glue\(\s*["']([\w.-]+)["']""")
GLUE_USED = re.compile(r"\{glue(?::\w+)?\}`([\w.-]+)`")


def glued_answers_shown(notebook) -> set[tuple[str, str]]:
    """(glue name, cell id) of values glued by solution code and shown outside the solutions."""
    answers, shown = set(), set()
    for cell, inside in student_notebook.by_place(notebook):
        if inside and cell.cell_type == "code":
            answers.update(GLUE_DEFINED.findall(cell.source))
        elif not inside and cell.cell_type == "markdown":
            text = conventions.DIRECTIVE_RE.sub(lambda m: "" if m["name"] == "solution" else m.group(), cell.source)
            shown.update((name, cell.get("id")) for name in GLUE_USED.findall(text))
    return {(name, cell) for name, cell in shown if name in answers}


def test_glued_answer_in_the_narrative_is_found():
    notebook = chapter_notebook()
    notebook.cells[5].source += "\nglue('tiny_answer', hidden_answer, display=False)"
    notebook.cells[6].source += " It is {glue:text}`tiny_answer`."  # inside the solution: fine
    assert glued_answers_shown(notebook) == set()
    notebook.cells[10].source += "\n\nThe sum was {glue:text}`tiny_answer`."  # c10: narrative
    assert glued_answers_shown(notebook) == {("tiny_answer", "c9")}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_answers_glued_in_solutions_stay_in_solutions(source):
    # A value glued by solution code and shown in the narrative would give the answer
    # away in the student edition, which keeps the narrative.
    assert glued_answers_shown(nbformat.read(source, as_version=4)) == set()


# --- the site, in both editions (a tiny book) ----------------------------------


def _tiny_book(root: Path) -> Path:
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text(
        "title: tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: 'off'\n"
        "repository:\n  url: https://github.com/example-org/example-repo\n  branch: main\n"
        "launch_buttons:\n  colab_url: https://colab.research.google.com\n"
        "parse:\n  myst_enable_extensions: [colon_fence, dollarmath]\n"
        f"sphinx:\n  local_extensions:\n    offline_site: {EXT}\n    editions: {EXT}\n    accessibility: {EXT}\n"
        "  extra_extensions: [sphinx_exercise, sphinx_togglebutton]\n"
        "  config:\n    mathjax_path: mathjax/tex-svg.js\n    html_context:\n      default_mode: light\n"
    )
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_tiny\n")
    (root / "book" / "intro.md").write_text(
        "# Tiny\n\nAn introduction.\n\n:::{only} instructor\nFOR-INSTRUCTORS\n:::\n\n:::{only} student\nFOR-STUDENTS\n:::\n"
    )
    nbformat.write(chapter_notebook(), root / "book" / "01_tiny.ipynb")
    editions.write_all(root)
    return root


def _build(root: Path, edition: str) -> Path:
    out = root / "_build" / "student" if edition == "student" else root
    env = {**os.environ, "RESNETBOOK_EDITION": edition}
    result = subprocess.run(
        [str(JUPYTER_BOOK), "build", str(root), "--path-output", str(out), "-W", "--keep-going"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def tiny_sites(tmp_path_factory):
    root = _tiny_book(tmp_path_factory.mktemp("tinybook"))
    return {edition: _build(root, edition) for edition in ("instructor", "student")}


def _site_text(site: Path) -> str:
    """Every text file of a built site; HTML as the text a reader sees (code unhighlighted)."""
    texts = []
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.suffix in {".html", ".js", ".ipynb", ".txt", ".md"} and "mathjax" not in path.parts:
            text = path.read_text(errors="replace")
            texts.append(html.unescape(re.sub(r"<[^>]+>", "", text)) if path.suffix == ".html" else text)
    return "\n".join(texts)


def leaks(site: Path, sources: list) -> dict[str, list[str]]:
    """Solution lines of ``sources`` (paths or notebooks) found anywhere in ``site``, by notebook."""
    text = _site_text(site)
    notebooks = {getattr(s, "name", "notebook"): s if isinstance(s, nbformat.NotebookNode) else nbformat.read(s, as_version=4) for s in sources}
    # A line that another chapter shows in its narrative is on the site legitimately.
    shown = set().union(*(narrative_lines(nb) for nb in notebooks.values()))
    found = {}
    for name, notebook in notebooks.items():
        lines = sorted(line for line in solution_lines(notebook, shown) if line in text)
        if lines:
            found[name] = lines
    return found


def _check_outputs(page: str) -> tuple[int, int]:
    """(check cells, check cells with an output) on a built page."""
    from bs4 import BeautifulSoup

    cells = BeautifulSoup(page, "html.parser").select(".tag_student-check")
    return len(cells), sum(bool(cell.select(".cell_output")) for cell in cells)


def test_instructor_edition_keeps_solutions(tiny_sites):
    page = (tiny_sites["instructor"] / "book" / "01_tiny.html").read_text()
    assert page.count('class="solution dropdown') == 2
    assert SECRET_CODE in _site_text(tiny_sites["instructor"]) and SECRET_TEXT in page
    assert _check_outputs(page) == (1, 1)  # the instructor edition keeps the checks' outputs
    assert '<meta name="resnetbook-edition" content="instructor">' in page
    intro = (tiny_sites["instructor"] / "book" / "intro.html").read_text()
    assert "FOR-INSTRUCTORS" in intro and "FOR-STUDENTS" not in intro


def test_student_edition_removes_solutions(tiny_sites):
    site = tiny_sites["student"]
    page = (site / "book" / "01_tiny.html").read_text()
    assert page.count('class="exercise') == 2
    assert 'class="solution' not in page and "tag_solution" not in page
    text = _site_text(site)
    for secret in ("SECRET-SOLUTION-CODE", "SECRET-SOLUTION-TEXT", "SECRET-SOLUTION-OUTPUT", "hidden_answer"):
        assert secret not in text
    # A check cell's stored output came from the reference solution: not shown under the student's stub.
    assert _check_outputs(page) == (1, 0)
    assert leaks(site, [chapter_notebook()]) == {}
    assert leaks(tiny_sites["instructor"], [chapter_notebook()]) != {}  # the check can fail
    assert '<meta name="resnetbook-edition" content="student">' in page
    intro = (site / "book" / "intro.html").read_text()
    assert "FOR-STUDENTS" in intro and "FOR-INSTRUCTORS" not in intro
    # The page's .ipynb download is the student notebook.
    served = (site / "_sources" / "book" / "01_tiny.ipynb").read_text()
    assert "raise NotImplementedError" in served


@pytest.mark.parametrize("edition", ["instructor", "student"])
def test_colab_button_opens_the_student_notebook(tiny_sites, edition):
    page = (tiny_sites[edition] / "book" / "01_tiny.html").read_text()
    assert "https://colab.research.google.com/github/example-org/example-repo/blob/main/book/student/01_tiny.ipynb" in page
    assert "blob/main/book/01_tiny.ipynb" not in page


def test_an_unknown_edition_is_refused(tmp_path):
    root = _tiny_book(tmp_path / "book")
    env = {**os.environ, "RESNETBOOK_EDITION": "teacher"}
    result = subprocess.run([str(JUPYTER_BOOK), "build", str(root)], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "RESNETBOOK_EDITION must be one of" in result.stdout + result.stderr


# --- the real book's student edition --------------------------------------------


def test_built_student_edition_leaks_no_solution(student_site):
    assert leaks(student_site, SOURCES) == {}
    assert "solution-start" not in _site_text(student_site)


def test_leak_check_finds_solutions_in_the_instructor_edition(site):
    # Guards the test above: the same check does see every chapter's solutions when they are there.
    with_solutions = [s for s in SOURCES if "solution" in s.read_text(encoding="utf-8")]
    assert sorted(leaks(site, SOURCES)) == sorted(s.name for s in with_solutions)


@pytest.mark.parametrize("source", [s for s in toc_sources() if s.suffix == ".ipynb"], ids=lambda p: p.stem)
def test_built_student_edition_pages(student_site, browser, source):
    url, server = serve(student_site)
    try:
        path = page_of(source)
        report = visit(browser, url, path, SCREENSHOTS / ("student_" + path.replace("/", "_").removesuffix(".html") + ".png"))
    finally:
        server.shutdown()
    assert (report["errors"], report["failed"], report["foreign"], report["brokenImages"]) == ([], [], [], [])
    assert report["edition"] == "student"
    assert report["solutions"] == 0
    student = f"book/student/{source.name}"
    assert any(link.endswith(f"/blob/main/{student}") for link in report["links"])
