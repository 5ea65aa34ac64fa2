"""Student and instructor editions from one source (scripts/student_edition.py, resnetbook.sphinxext).

- The generator turns worked solutions into stubs and refuses malformed sources.
- The committed student notebooks (what Colab opens) match the generator's output
  and hold no solution code.
- A tiny book built in both editions: solutions behind toggles, or gone entirely.
- The built student edition of the real book (`make book EDITION=student`) leaks
  no line of solution code, on any page, in the search index or in a download.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, SCREENSHOTS, page_of, serve, toc_sources, visit
from notebook_fixtures import SECRET_CODE, SECRET_OUTPUT, SECRET_TEXT, chapter_notebook


def _load_script():
    spec = importlib.util.spec_from_file_location("student_edition", ROOT / "scripts" / "student_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


student_edition = _load_script()
SOURCES = student_edition.chapter_sources()
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


MARKUP = re.compile(r"[`*$\[\]{}_<>|]")  # a markdown line with markup renders as other text


def solution_lines(notebook, common: set[str] = frozenset()) -> set[str]:
    """Lines of the worked solutions specific enough that they must not appear anywhere else.

    Solution cells are those the student edition drops or stubs: tagged code cells and
    the markdown between solution-start and solution-end. A line also found outside
    the solutions (an import, a plot call), or in ``common``, is not a leak, so it does
    not count; nor do short or comment-only lines, nor markdown lines with markup
    (their HTML differs).
    """
    solution = set()
    kept = _kept_ids(notebook)
    for cell in notebook.cells:
        lines = {line.strip() for line in cell.source.splitlines()}
        if cell.get("id") in kept:
            continue
        if cell.cell_type == "code":
            solution.update(line for line in lines if len(line) >= 16 and not line.startswith("#"))
        elif "{solution-" not in cell.source:
            solution.update(line for line in lines if len(line) >= 30 and not MARKUP.search(line))
    return solution - narrative_lines(notebook) - common


def _kept_ids(notebook) -> set[str]:
    student = student_edition.student_notebook(notebook)
    return {c.get("id") for c in student.cells if "student-stub" not in c.metadata.get("tags", [])}


def narrative_lines(notebook) -> set[str]:
    """Lines of the cells both editions keep."""
    kept = _kept_ids(notebook)
    return {line.strip() for c in notebook.cells if c.get("id") in kept for line in c.source.splitlines()}


# --- the generator -------------------------------------------------------------


def test_solution_cells_become_stubs():
    source = chapter_notebook()
    student = student_edition.student_notebook(source)
    text = nbformat.writes(student)
    for secret in (SECRET_CODE, SECRET_TEXT, SECRET_OUTPUT, "solution-start", "solution-end", "{solution}"):
        assert secret not in text
    stubs = [c for c in student.cells if "student-stub" in c.metadata.get("tags", [])]
    assert [c.id for c in stubs] == ["c5", "c7"]  # cell ids survive, one stub per solution cell
    for part, stub in enumerate(stubs, start=1):
        assert stub.source.startswith("# TODO") and "raise NotImplementedError" in stub.source
        with pytest.raises(NotImplementedError, match=f"exercise tiny-sum, part {part} of 2"):
            exec(stub.source, {})
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert [c.id for c in student.cells] == ["c0", "c1", "c2", "c3", "c5", "c7", "c9", "c10"]
    assert student.cells[3].source == "**Exercise (tiny-sum): Add numbers**\n\nCompute the sum of 0..6."
    assert "Why 21?" in student.cells[6].source
    nbformat.validate(student)


def test_the_source_notebook_is_left_alone():
    source = chapter_notebook()
    before = nbformat.writes(source)
    student_edition.student_notebook(source)
    assert nbformat.writes(source) == before


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda cells: cells.__delitem__(slice(8, None)), "has no solution-end"),
        (lambda cells: cells.__delitem__(slice(4, 8)), "solution-end without a solution-start"),
        (lambda cells: cells[5].metadata.pop("tags"), "lacks the tag"),
        (lambda cells: cells[2].metadata.update(tags=["solution"]), "outside solution-start"),
        (lambda cells: cells.insert(6, nbformat.v4.new_markdown_cell(":::{solution-start} tiny-why\n:::")), "inside solution"),
        (lambda cells: setattr(cells[4], "source", cells[4].source + "\n\nMore text."), "only the directive"),
    ],
    ids=["unclosed", "unopened", "untagged-code", "tag-outside", "nested", "marker-with-text"],
)
def test_malformed_sources_are_refused(edit, message):
    source = chapter_notebook()
    edit(source.cells)
    with pytest.raises(ValueError, match=message):
        student_edition.student_notebook(source)


def test_check_mode_reports_drift(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    nbformat.write(chapter_notebook(), book / "01_tiny.ipynb")
    assert student_edition.out_of_sync(book) == ["book/student/01_tiny.ipynb"]
    student_edition.write_all(book)
    assert student_edition.out_of_sync(book) == []
    (book / "student" / "09_gone.ipynb").write_text("{}")
    assert student_edition.out_of_sync(book) == ["book/student/09_gone.ipynb (no source notebook)"]
    student_edition.write_all(book)
    assert not (book / "student" / "09_gone.ipynb").exists()


# --- the committed student notebooks ------------------------------------------


def test_every_chapter_has_a_student_notebook_in_sync():
    assert len(SOURCES) == 5
    assert student_edition.out_of_sync() == [], "run `make student` and commit book/student/"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_student_notebook_holds_no_solution(source):
    notebook = nbformat.read(source, as_version=4)
    student_path = student_edition.student_path(source)
    student = nbformat.read(student_path, as_version=4)
    text = student_path.read_text(encoding="utf-8")
    leaked = [line for line in solution_lines(notebook) if line in text]
    assert leaked == []
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    n_solution_cells = sum("solution" in c.metadata.get("tags", []) for c in notebook.cells)
    n_stubs = sum("student-stub" in c.metadata.get("tags", []) for c in student.cells)
    assert n_stubs == n_solution_cells


GLUE_DEFINED = re.compile(r"""glue\(\s*["']([\w.-]+)["']""")
GLUE_USED = re.compile(r"\{glue(?::\w+)?\}`([\w.-]+)`")


def glued_answers_shown(notebook) -> set[tuple[str, str]]:
    """(glue name, cell id) of values glued by solution code and shown outside the solutions."""
    student = student_edition.student_notebook(notebook)
    kept = {c.get("id") for c in student.cells if "student-stub" not in c.metadata.get("tags", [])}
    answers = {name for c in notebook.cells if c.get("id") not in kept for name in GLUE_DEFINED.findall(c.source)}
    shown = {(name, c.get("id")) for c in student.cells if c.cell_type == "markdown" for name in GLUE_USED.findall(c.source)}
    return {(name, cell) for name, cell in shown if name in answers}


def test_glued_answer_in_the_narrative_is_found():
    notebook = chapter_notebook()
    notebook.cells[5].source += "\nglue('tiny_answer', hidden_answer, display=False)"
    notebook.cells[6].source += " It is {glue:text}`tiny_answer`."  # inside the solution: fine
    assert glued_answers_shown(notebook) == set()
    notebook.cells[9].source += "\n\nThe sum was {glue:text}`tiny_answer`."  # c9: narrative
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
        "sphinx:\n  extra_extensions: [sphinx_exercise, sphinx_togglebutton, resnetbook.sphinxext]\n"
        "  config:\n    mathjax_path: mathjax/tex-svg.js\n    html_context:\n      default_mode: light\n"
    )
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_tiny\n")
    (root / "book" / "intro.md").write_text(
        "# Tiny\n\nAn introduction.\n\n:::{only} instructor\nFOR-INSTRUCTORS\n:::\n\n:::{only} student\nFOR-STUDENTS\n:::\n"
    )
    nbformat.write(chapter_notebook(), root / "book" / "01_tiny.ipynb")
    student_edition.write_all(root / "book")
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


def test_instructor_edition_keeps_solutions(tiny_sites):
    page = (tiny_sites["instructor"] / "book" / "01_tiny.html").read_text()
    assert page.count('class="solution dropdown') == 2
    assert SECRET_CODE in _site_text(tiny_sites["instructor"]) and SECRET_TEXT in page
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
