"""Tracks from one source (book/_ext/editions/tracks.py): exercises for some tracks only, points per track.

- the title markup is parsed, and malformed or unknown tracks are refused with what to write;
- a track's student notebook leaves out the other tracks' exercises (their numbers stay) and
  runs top to bottom unfilled but for its own stubs;
- ``make autograder``'s test files follow the track: its exercises, its points;
- a book that names no tracks gets exactly what it got before tracks existed;
- a tiny book built with tracks shows each exercise's tracks and points, and a Colab button
  per track; an exercise that names an unknown track fails the build;
- the real chapters are marked as the problem sets mark them (graduate-only parts).
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

import autograder
import editions
import notebook_conventions as conventions
from editions import student_notebook, tracks
from editions.tracks import Points
from notebook_fixtures import chapter_notebook
from support import ROOT
from test_student_edition import JUPYTER_BOOK, _build, _tiny_book, _tiny_root

TRACKS = ("undergraduate", "graduate")
GRAD_SUM = "Add numbers (graduate only, 2 points)"
SPLIT_WHY = "Say why (undergraduate: 1 point; graduate: 3 points)"


def retitled(notebook: nbformat.NotebookNode, cell_id: str, old: str, new: str) -> nbformat.NotebookNode:
    """``notebook`` with the exercise title ``old`` of cell ``cell_id`` replaced by ``new``."""
    cell = next(c for c in notebook.cells if c.id == cell_id)
    assert "{exercise} " + old in cell.source
    cell.source = cell.source.replace("{exercise} " + old, "{exercise} " + new)
    return notebook


def tracked_chapter() -> nbformat.NotebookNode:
    """The tiny chapter with its coding exercise for graduates only and its prose exercise worth more to them."""
    return retitled(retitled(chapter_notebook(), "c3", "Add numbers", GRAD_SUM), "c9", "Say why", SPLIT_WHY)


def with_tracks(root: Path, names: str = "[undergraduate, graduate]") -> Path:
    """The tiny book at ``root`` with tracks named in its _config.yml and its chapter marked."""
    config = root / "_config.yml"
    config.write_text(config.read_text().replace("  config:\n", f"  config:\n    resnetbook_tracks: {names}\n"))
    nbformat.write(tracked_chapter(), root / "book" / "01_tiny.ipynb")
    return root


# ---------------------------------------------------------------- the markup


@pytest.mark.parametrize("title, points", [
    ("Slope and intercept (2 points)", Points(every=2)),
    ("Slope and intercept (1 point)", Points(every=1)),
    ("Switch off units (graduate only, 2 points)", Points(by_track=(("graduate", 2),))),
    ("Both (undergraduate and graduate only, 3 points)", Points(by_track=(("undergraduate", 3), ("graduate", 3)))),
    ("Training (undergraduate: 3 points; graduate: 5 points)", Points(by_track=(("undergraduate", 3), ("graduate", 5)))),
    ("Training (graduate: 5 points)", Points(by_track=(("graduate", 5),))),
    ("A title (with a remark)", None),
    ("No points", None),
])
def test_titles_are_parsed(title, points):
    assert tracks.parse(title) == points


def test_points_per_track():
    split = tracks.parse("T (undergraduate: 3 points; graduate: 5 points)")
    assert (split.in_track("undergraduate"), split.in_track("graduate"), split.in_track("auditors")) == (3, 5, None)
    assert split.same is None and split.tracks == ("undergraduate", "graduate")
    only = tracks.parse("T (graduate only, 2 points)")
    assert (only.in_track("undergraduate"), only.in_track("graduate"), only.same) == (None, 2, 2)
    every = tracks.parse("T (4 points)")
    assert (every.in_track("graduate"), every.in_track(None), every.tracks) == (4, 4, None)
    with pytest.raises(ValueError, match="say which track"):
        split.in_track(None)
    assert tracks.without_points("Switch off units (graduate only, 2 points)") == "Switch off units"


@pytest.mark.parametrize("title, message", [
    ("T (graduate only 2 points)", "cannot read the points"),
    ("T (graduate: two points)", "cannot read the points"),
    ("T (Graduate only, 2 points)", "cannot read the points"),
    ("T (graduate: 2 points; graduate: 3 points)", "names a track twice"),
])
def test_malformed_titles_are_refused(title, message):
    with pytest.raises(ValueError, match=message):
        tracks.parse(title)


def test_tracks_must_be_named_in_the_config():
    tracks.validate(tracks.parse("T (graduate only, 2 points)"), TRACKS)
    tracks.validate(tracks.parse("T (2 points)"), ())  # a book without tracks
    with pytest.raises(ValueError, match=r"does not name.*resnetbook_tracks"):
        tracks.validate(tracks.parse("T (grad only, 2 points)"), TRACKS)
    with pytest.raises(ValueError, match="names no tracks: add `resnetbook_tracks"):
        tracks.validate(tracks.parse("T (graduate only, 2 points)"), ())


@pytest.mark.parametrize("value", ["graduate", ["Graduate", "undergraduate"], ["a b", "c"], ["graduate"],
                                   ["graduate", "graduate"], [1, 2]])
def test_bad_track_lists_are_refused(value):
    with pytest.raises(ValueError, match="resnetbook_tracks must"):
        tracks.checked_tracks(value)


def test_the_config_names_the_tracks(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\nsphinx:\n  config:\n    resnetbook_tracks: [undergraduate, graduate]\n")
    assert tracks.book_tracks(tmp_path) == TRACKS
    (tmp_path / "_config.yml").write_text("title: t\nsphinx:\n  config:\n    numfig_secnum_depth: 1\n")
    assert tracks.book_tracks(tmp_path) == ()


def test_markers_read_the_points_of_each_track():
    notebook = retitled(graded_chapter(GRAD_SUM), "c9", "Say why", SPLIT_WHY)
    found = {e.label: e for e in conventions.exercises(notebook, 3)}
    assert (found["tiny-sum"].points_in("graduate"), found["tiny-sum"].points_in("undergraduate")) == (2, None)
    assert found["tiny-sum"].name == "Exercise 3.1: Add numbers" and found["tiny-sum"].points == 2
    assert (found["tiny-why"].points_in("undergraduate"), found["tiny-why"].points_in("graduate")) == (1, 3)
    assert found["tiny-why"].points is None
    assert [e.label for e in autograder.graded(notebook, 3, "undergraduate")] == []
    assert [e.label for e in autograder.graded(notebook, 3, "graduate")] == ["tiny-sum"]


# ---------------------------------------------------------------- student notebooks


def run_cells(notebook: nbformat.NotebookNode) -> None:
    """Execute the notebook's code cells in order, in one namespace (the tiny chapter needs no kernel),
    less the hand-in cell (tests/test_handin.py runs it, in a temporary folder)."""
    namespace: dict = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and "handin" not in cell.metadata.get("tags", []):
            exec(cell.source, namespace)


def test_a_tracks_notebook_leaves_out_the_other_tracks_exercises():
    source = tracked_chapter()
    undergraduate = student_notebook.student_notebook(tracks.for_track(source, "undergraduate"), 3)
    graduate = student_notebook.student_notebook(tracks.for_track(source, "graduate"), 3)
    everyone = student_notebook.student_notebook(source, 3)
    ids = [c.id for c in undergraduate.cells]
    assert "c5" not in ids and "c8b" not in ids  # the graduate stub and its check
    assert "tiny-why-answer" in ids  # the exercise both tracks answer
    text = {c.id: c.source for c in undergraduate.cells}
    assert text["c3"].endswith(f"### Exercise 3.1: {GRAD_SUM}\n\n"
                               + tracks.SKIPPED_TEXT.format(track="undergraduate"))
    assert text["c9"] == f"### Exercise 3.2: {SPLIT_WHY}\n\nWhy 21?"  # numbers as on the site
    assert "The undergraduate track" in text["c0"] and "The graduate track" in graduate.cells[0].source
    assert [c.id for c in graduate.cells] == [c.id for c in everyone.cells]
    run_cells(undergraduate)  # unfilled, it runs top to bottom: nothing of another track stops it
    with pytest.raises(NotImplementedError):
        run_cells(everyone)  # (the check that the run can fail: the graduate stub is called)
    run_cells(student_notebook.filled(graduate, source))
    for notebook in (undergraduate, graduate):
        nbformat.validate(notebook)
        assert not student_notebook.MYST_LEFTOVER.search("\n".join(c.source for c in notebook.cells if c.cell_type == "markdown"))


def test_a_solution_block_in_the_text_goes_with_its_exercise():
    source = tracked_chapter()
    retitled(source, "c9", SPLIT_WHY, "Say why (graduate only, 1 point)")
    undergraduate = student_notebook.student_notebook(tracks.for_track(source, "undergraduate"), 3)
    assert "tiny-why-answer" not in [c.id for c in undergraduate.cells]
    assert "SECRET" not in nbformat.writes(undergraduate)


def test_student_notebooks_per_track_are_written_and_kept_in_sync(tmp_path):
    root = with_tracks(_tiny_book(tmp_path / "tiny"))
    written = editions.write_all(root)
    assert sorted(p.relative_to(root).as_posix() for p in written) == [
        "book/student/01_tiny.ipynb", "book/student/graduate/01_tiny.ipynb", "book/student/undergraduate/01_tiny.ipynb"]
    assert editions.out_of_sync(root) == []
    under = nbformat.read(root / "book" / "student" / "undergraduate" / "01_tiny.ipynb", as_version=4)
    assert "student-stub" not in json.dumps(under.cells)
    config = root / "_config.yml"  # the instructor drops the tracks: their notebooks go
    config.write_text(config.read_text().replace("    resnetbook_tracks: [undergraduate, graduate]\n", ""))
    nbformat.write(chapter_notebook(), root / "book" / "01_tiny.ipynb")
    assert editions.out_of_sync(root) == ["book/student/01_tiny.ipynb", "book/student/graduate/01_tiny.ipynb (no chapter)",
                                          "book/student/undergraduate/01_tiny.ipynb (no chapter)"]
    editions.write_all(root)
    assert sorted(p.relative_to(root).as_posix() for p in (root / "book" / "student").rglob("*.ipynb")) == [
        "book/student/01_tiny.ipynb"]


def test_a_book_without_tracks_gets_what_it_got_before(tmp_path):
    root = _tiny_root(tmp_path)
    source = root / "book" / "01_tiny.ipynb"
    assert tracks.book_tracks(root) == ()  # no _config.yml at all
    assert editions.student_notebooks(root) == [(source, 1, None)]
    before = nbformat.writes(student_notebook.student_notebook(nbformat.read(source, as_version=4), 1, source.stem)) + "\n"
    assert editions.render(source, 1) == before
    notebook = graded_chapter("Add numbers (2 points)")
    assert tracks.chapter_tracks(notebook, ()) == ()
    assert points_of(autograder.tests_of(notebook, 1, "book/01_tiny.ipynb")) == {
        "01-01-tiny-sum.py": 2, autograder.BOOK_FILES_TEST: 0}
    assert autograder.archive_name(source) == "01_tiny-autograder.zip"


def test_a_marked_exercise_needs_tracks_in_the_config(tmp_path):
    root = _tiny_book(tmp_path / "tiny")
    nbformat.write(tracked_chapter(), root / "book" / "01_tiny.ipynb")
    with pytest.raises(ValueError, match="01_tiny.ipynb: cell 'c3': .*names no tracks"):
        editions.write_all(root)


# ---------------------------------------------------------------- autograder test files


def points_of(tests: dict[str, str]) -> dict[str, int]:
    """Each test file's points, as otter reads them."""
    found = {}
    for name, text in tests.items():
        namespace: dict = {}
        exec(text.replace("from otter.test_files import test_case", "test_case = lambda **kw: (lambda f: f)")
             .replace("import bookgrader", ""), namespace)
        found[name] = namespace["points"]
    return found


def graded_chapter(title: str) -> nbformat.NotebookNode:
    """The tiny chapter with its coding exercise titled ``title`` and checked as the book checks."""
    notebook = retitled(chapter_notebook(), "c3", "Add numbers", title)
    check = next(c for c in notebook.cells if c.id == "c8b")
    check.source = "check.tiny_sum(tiny_sum)"
    return notebook


@pytest.mark.parametrize("title, expected", [
    ("Add numbers (2 points)", {None: 2}),
    ("Add numbers (graduate only, 2 points)", {"graduate": 2, "undergraduate": None}),
    ("Add numbers (undergraduate: 1 point; graduate: 3 points)", {"graduate": 3, "undergraduate": 1}),
])
def test_autograder_tests_follow_the_track(title, expected):
    notebook = graded_chapter(title)
    for track, points in expected.items():
        tests = autograder.tests_of(notebook, 1, "book/01_tiny.ipynb", track)
        assert points_of(tests) == ({"01-01-tiny-sum.py": points, autograder.BOOK_FILES_TEST: 0} if points else {})


# ---------------------------------------------------------------- the site (a tiny book)


@pytest.fixture(scope="module")
def tracked_site(tmp_path_factory) -> Path:
    root = with_tracks(_tiny_book(tmp_path_factory.mktemp("tracked")))
    editions.write_all(root)
    return _build(root, "instructor")


def test_the_site_shows_each_exercises_tracks_and_points(tracked_site):
    page = (tracked_site / "book" / "01_tiny.html").read_text()
    text = _text(page)
    assert f"Exercise 1 ({GRAD_SUM}) Write tiny_sum(n)" in text  # (the tiny book numbers exercises 1, 2)
    assert f"Exercise 2 ({SPLIT_WHY}) Why 21?" in text
    colab = "https://colab.research.google.com/github/example-org/example-repo/blob/main/book/student"
    for track in TRACKS:
        assert f"{colab}/{track}/01_tiny.ipynb" in page and f"Colab ({track})" in page
    assert f"{colab}/01_tiny.ipynb" in page  # the notebook with every track's exercises


def test_a_book_without_tracks_shows_no_track(tmp_path):
    site = _build(_tiny_book(tmp_path / "plain"), "instructor")
    page = (site / "book" / "01_tiny.html").read_text()
    assert "Colab (" not in page and "/book/student/graduate/" not in page
    assert "Exercise 1 (Add numbers) Write tiny_sum(n)" in _text(page)


@pytest.mark.parametrize("title, config, message", [
    ("Add numbers (grad only, 2 points)", "[undergraduate, graduate]", "does not name"),
    ("Add numbers (graduate only, 2 points)", None, "names no tracks"),
    ("Add numbers (2 points)", "[graduate]", "resnetbook_tracks must name two tracks"),
])
def test_a_wrong_track_fails_the_build(tmp_path, title, config, message):
    root = _tiny_book(tmp_path / "wrong")
    if config is not None:
        path = root / "_config.yml"
        path.write_text(path.read_text().replace("  config:\n", f"  config:\n    resnetbook_tracks: {config}\n"))
    nbformat.write(retitled(chapter_notebook(), "c3", "Add numbers", title), root / "book" / "01_tiny.ipynb")
    result = subprocess.run([str(JUPYTER_BOOK), "build", str(root), "-W", "--keep-going"], cwd=root,
                            env={**os.environ, "RESNETBOOK_EDITION": "instructor"}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def _text(page: str) -> str:
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# ---------------------------------------------------------------- the real book

CHAPTERS = editions.chapters(ROOT)
BOOK_TRACKS = tracks.book_tracks(ROOT)


def tracked_chapters() -> list[tuple[int, str]]:
    """``(chapter number, track)`` for every chapter of the book that has per-track notebooks."""
    return [(number, track) for source, number, track in editions.student_notebooks(ROOT) if track]


def test_the_chapters_are_marked_as_the_problem_sets_mark_them():
    # Problem set 4 (6.8300/6.8301): 2(c) unit ablation, 2(d) fewest units and 4(d) the
    # hyperparameter experiments are "[6.8300 only]", the graduate course.
    assert BOOK_TRACKS == TRACKS
    marked = {}
    for number, source in enumerate(CHAPTERS, start=1):
        for exercise in conventions.exercises(nbformat.read(source, as_version=4), number):
            assert exercise.marks is not None, f"{exercise.label} gives no points"
            if exercise.marks.tracks is not None:
                marked[exercise.label] = exercise.marks.tracks
    assert marked == {"ch4-ablate-top5": ("graduate",), "ch4-fewest-units": ("graduate",),
                      "ch5-experiments": ("graduate",)}
    assert tracked_chapters() == [(4, "undergraduate"), (4, "graduate"), (5, "undergraduate"), (5, "graduate")]


def _names(cells, kind) -> set[str]:
    import ast

    found = set()
    for cell in cells:
        source = "\n".join(l[: len(l) - len(l.lstrip())] + "pass" if l.lstrip().startswith(("%", "!")) else l
                           for l in cell.source.splitlines())
        for node in ast.walk(ast.parse(source)):
            if kind == "defined" and isinstance(node, ast.FunctionDef):
                found.add(node.name)
            elif kind == "used" and isinstance(node, ast.Name):
                found.add(node.id)
    return found


@pytest.mark.parametrize("number, track", tracked_chapters())
def test_a_tracks_notebook_needs_nothing_it_leaves_out(number, track):
    source = nbformat.read(CHAPTERS[number - 1], as_version=4)
    everyone = student_notebook.student_notebook(source, number)
    mine = student_notebook.student_notebook(tracks.for_track(source, track), number)
    kept = {c.id for c in mine.cells}
    dropped = [c for c in everyone.cells if c.id not in kept]
    tags = [(c.metadata.get("tags") or ["untagged"])[0] for c in dropped]
    assert set(tags) <= {"student-stub", "student-check", "student-answer"}, tags
    left_out = {e.label for e in conventions.exercises(source, number) if e.points_in(track) is None}
    assert bool(dropped) == bool(left_out)
    code = [c for c in mine.cells if c.cell_type == "code"]
    dropped_code = [c for c in dropped if c.cell_type == "code"]
    assert _names(dropped_code, "defined") & _names(code, "used") == set()  # Run all reaches the end


@pytest.mark.parametrize("number, track", [(n, t) for n, t in tracked_chapters() if n == 4 and t == "undergraduate"])
def test_the_undergraduate_notebook_of_chapter_4_runs_filled(number, track):
    from test_student_notebooks_run import CHECK_PASSED, run

    source = nbformat.read(CHAPTERS[number - 1], as_version=4)
    mine = student_notebook.student_notebook(tracks.for_track(source, track), number)
    executed, _ = run(student_notebook.filled(mine, source), allow_errors=False)
    checks = [c for c in executed.cells if "student-check" in c.metadata.get("tags", [])]
    assert checks and all(CHECK_PASSED.search("".join(o.get("text", "") for o in c.outputs)) for c in checks)
    assert "check.ablate_units" not in nbformat.writes(mine)


def test_chapter_4_gets_an_archive_per_track_whose_totals_follow(tmp_path):
    import torch

    source = CHAPTERS[3]
    notebook = nbformat.read(source, as_version=4)
    assert tracks.chapter_tracks(nbformat.read(CHAPTERS[2], as_version=4), BOOK_TRACKS) == ()  # chapter 3: one archive
    totals = {}
    for track in tracks.chapter_tracks(notebook, BOOK_TRACKS):
        archive = autograder.build(ROOT, source, 4, tmp_path, track)
        assert archive.name == f"04_looking_inside-{track}-autograder.zip"
        with zipfile.ZipFile(archive) as zf:
            settings = json.loads(zf.read("grader/bookgrader/settings.json"))
            tests = sorted(n for n in zf.namelist() if n.startswith("tests/"))
            zf.extract("grader/bookgrader/reference.pt", tmp_path / track)
        assert settings["track"] == track
        labels = [e["label"] for e in settings["exercises"]]
        assert tests == sorted([f"tests/04-{i:02d}-{label}.py" for i, label in enumerate(labels, 1)]
                               + [f"tests/{autograder.BOOK_FILES_TEST}"])
        expected = {e.label: e.points_in(track) for e in autograder.graded(notebook, 4, track)}
        assert {e["label"]: e["points"] for e in settings["exercises"]} == expected
        reference = torch.load(tmp_path / track / "grader" / "bookgrader" / "reference.pt", weights_only=False)
        assert ("ablate_units" in reference) == (track == "graduate")
        totals[track] = sum(expected.values())
        assert [e["label"] for e in settings["by_hand"]] == [
            e.label for e in conventions.exercises(notebook, 4) if not e.checks and e.points_in(track) is not None]
    ablation = next(e for e in conventions.exercises(notebook, 4) if e.label == "ch4-ablate-top5")
    assert totals["graduate"] - totals["undergraduate"] == ablation.points_in("graduate") > 0
