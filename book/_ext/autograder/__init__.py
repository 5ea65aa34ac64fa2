"""Gradescope autograder archives, one per chapter, generated from the chapters (make autograder).

``build(root, chapter_path, number, dest)`` writes ``dest/<chapter>-autograder.zip`` with
otter-grader: the tests of ``tests/`` (otter's exception-based test files, one per exercise
graded by checks; see :func:`notebook_conventions.exercises`) go through ``otter generate``, which adds
otter's ``setup.sh`` (a mamba environment with otter and ``requirements.txt``) and
``otter_config.json``. Three things otter does not do are added around it:

- ``grader/bookgrader``: the helpers the tests call, the otter plugin that puts time limits on
  cells and tests and guards the book's files, the hidden cases of the chapter and
  ``reference.pt``, the values the chapter's worked solution gives on them (computed here);
- ``run_autograder`` and ``run_grader.py`` (instead of otter's, which hard-code /autograder and
  crash without results on a file that is not a notebook): grade in any folder laid out as
  Gradescope's, and give a submission otter cannot grade a result per exercise;
- ``package``: the book's package as the student release ships it (solution regions stripped),
  which ``requirements.txt`` installs.

The archive holds no worked solution: the tests call the package's checks and compare with
stored values.

In a book with tracks (:mod:`editions.tracks`), ``build(..., track="graduate")`` writes
``<chapter>-graduate-autograder.zip``: only that track's exercises, with that track's points.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from editions.release import copy_package
from notebook_conventions import Exercise, cell_timeout, exercises, reference_namespace

RUNTIME = Path(__file__).resolve().parent / "runtime"
PYTHON_VERSION = "3.11"
TEST_SECONDS = 60  # a cell gets the book build's timeout, notebook_conventions.cell_timeout (run_grader.py stops cells sooner)
TIMEOUT_SECONDS = 600  # Gradescope's default timeout; BOOKGRADER_TIMEOUT_SECONDS where an instructor raised it
OTTER_CONFIG = {"lang": "python", "plugins": ["bookgrader.plugin.BookPlugin"], "show_stdout": False, "show_hidden": True}
BOOK_FILES_TEST = "99-book-files.py"
EXECUTABLE = ("run_autograder", "setup.sh")


def graded(notebook: nbformat.NotebookNode, number: int, track: str | None = None) -> list[Exercise]:
    """The exercises of chapter ``number`` that its checks grade (in ``track``, when given)."""
    return [e for e in exercises(notebook, number) if e.checks and (track is None or e.points_in(track) is not None)]


def by_hand(notebook: nbformat.NotebookNode, number: int, track: str | None = None) -> list[Exercise]:
    """The exercises of chapter ``number`` (in ``track``) that have points but no check: graded by hand."""
    return [e for e in exercises(notebook, number) if not e.checks and e.marks is not None
            and (track is None or e.points_in(track) is not None)]


def test_file(exercise: Exercise, source: str, track: str | None = None) -> str:
    """Otter's exception-based test file of ``exercise``: a public and a hidden case per checked function."""
    cases = []
    for check, fn in exercise.checks:
        cases.append(f'@test_case(name="check.{check}({fn})", hidden=False)\n'
                     f'def public_{check}(env):\n    bookgrader.public(env, "{check}", "{fn}")\n')
        cases.append(f'@test_case(name="{fn} on hidden cases", hidden=True)\n'
                     f'def hidden_{fn}(env):\n    bookgrader.hidden(env, "{fn}")\n')
    return (f'"""{exercise.name} ({exercise.label}) of {source}. Written by `make autograder`; do not edit."""\n\n'
            "from otter.test_files import test_case\n\nimport bookgrader\n\nOK_FORMAT = False  # otter's exception-based format\n"
            f"name = {exercise.name!r}\npoints = {exercise.points_in(track)}\n\n\n" + "\n\n".join(cases))


def book_files_test() -> str:
    return ('"""Whether the notebook left the book\'s files alone (0 points; written by `make autograder`)."""\n\n'
            "from otter.test_files import test_case\n\nimport bookgrader\n\nOK_FORMAT = False\n"
            'name = "The book\'s files"\npoints = 0\n\n\n'
            '@test_case(name="the notebook left the book\'s files alone", hidden=False, points=0)\n'
            "def untouched(env):\n    bookgrader.untouched()\n")


def reference_values(notebook: nbformat.NotebookNode, chapter_key: str, where: str, grader: Path) -> dict:
    """What the chapter's worked solution returns on each hidden case (the archive's reference.pt)."""
    sys.path.insert(0, str(grader))
    try:
        import importlib

        _forget_bookgrader()
        cases = importlib.import_module(f"bookgrader.chapters.{chapter_key}").CASES
        solutions = reference_namespace(notebook, where)
        values = {}
        for fn, fn_cases in cases.items():
            values[fn] = []
            for case in fn_cases:
                args = case.args()
                values[fn].append(case.probe(solutions[fn](*args), args))
        return values
    finally:
        sys.path.remove(str(grader))
        _forget_bookgrader()  # the archive's copy lives in a folder that may go: later imports find the runtime's


def _forget_bookgrader() -> None:
    """Drop every ``bookgrader`` module from ``sys.modules``, so that the next import reads it from ``sys.path``."""
    for name in [m for m in sys.modules if m == "bookgrader" or m.startswith("bookgrader.")]:
        del sys.modules[name]


def _stage(root: Path, source: Path, number: int, tests: dict[str, str], stage: Path, track: str | None = None) -> None:
    """Everything the archive holds besides what otter generate writes."""
    import torch

    notebook = nbformat.read(source, as_version=4)
    key = f"ch{number}"
    grader = stage / "grader"
    shutil.copytree(RUNTIME / "bookgrader", grader / "bookgrader", ignore=shutil.ignore_patterns("__pycache__"))
    for spec in (grader / "bookgrader" / "chapters").glob("ch*.py"):
        if spec.stem != key:
            spec.unlink()
    exercises_ = graded(notebook, number, track)
    settings = {"chapter": key, "notebook": source.name, "cell_seconds": cell_timeout(root), "test_seconds": TEST_SECONDS,
                "timeout_seconds": TIMEOUT_SECONDS,
                "exercises": [{"name": e.name, "label": e.label, "points": e.points_in(track)} for e in exercises_]}
    if track is not None:  # what the instructor grades by hand completes the track's total
        settings["track"] = track
        settings["by_hand"] = [{"name": e.name, "label": e.label, "points": e.points_in(track)}
                               for e in by_hand(notebook, number, track)]
    (grader / "bookgrader" / "settings.json").write_text(json.dumps(settings, indent=2))
    values = reference_values(notebook, key, source.stem, grader)
    checked = {fn for e in graded(notebook, number) for _, fn in e.checks}  # every track's
    if set(values) != checked:
        raise ValueError(f"{source.name}: hidden cases for {sorted(values)}, but the checks grade {sorted(checked)}")
    in_track = {fn for e in exercises_ for _, fn in e.checks}
    values = {fn: value for fn, value in values.items() if fn in in_track}
    torch.save(values, grader / "bookgrader" / "reference.pt")
    (stage / "tests").mkdir()
    for name, text in tests.items():
        (stage / "tests" / name).write_text(text)
    copy_package(root / "code", stage / "package")
    shutil.copy2(RUNTIME / "run_grader.py", stage / "run_grader.py")
    shutil.copy2(RUNTIME / "run_autograder", stage / "run_autograder")
    (stage / "otter_config.json").write_text(json.dumps(OTTER_CONFIG, indent=2))
    requirements = (root / "requirements.txt").read_text().splitlines()
    pins = [line.split("#")[0].strip() for line in requirements if line.startswith(("torch==", "torchvision=="))]
    (stage / "requirements.txt").write_text(
        "# The grading environment (otter's setup.sh installs it with otter-grader). CPU wheels: Gradescope has no GPU.\n"
        "--extra-index-url https://download.pytorch.org/whl/cpu\n" + "\n".join(pins) +
        "\n# the book's package, as the student release ships it\n/autograder/source/package\n")


def archive_name(source: Path, track: str | None = None) -> str:
    """``03_batchnorm-autograder.zip``, or ``04_looking_inside-graduate-autograder.zip`` for a track."""
    return f"{source.stem}-{track}-autograder.zip" if track else f"{source.stem}-autograder.zip"


def tests_of(notebook: nbformat.NotebookNode, number: int, where: str, track: str | None = None) -> dict[str, str]:
    """The archive's test files: one per exercise that checks grade (in ``track``), and the book's files test."""
    exercises_ = graded(notebook, number, track)
    if not exercises_:
        return {}
    tests = {f"{number:02d}-{i:02d}-{e.label}.py": test_file(e, where, track) for i, e in enumerate(exercises_, start=1)}
    tests[BOOK_FILES_TEST] = book_files_test()
    return tests


def build(root: Path, source: Path, number: int, dest: Path, track: str | None = None) -> Path | None:
    """Write chapter ``number``'s autograder archive (``track``'s, when given) into ``dest``; None when no
    exercise is graded by checks."""
    import otter.generate

    notebook = nbformat.read(source, as_version=4)
    where = source.relative_to(root).as_posix()
    tests = tests_of(notebook, number, where, track)
    if not tests:
        return None
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / archive_name(source, track)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "stage"
        _stage(root, source, number, tests, stage, track)
        generated = Path(tmp) / "otter.zip"
        cwd, sys.path[:0] = os.getcwd(), [str(stage / "grader")]  # otter imports the plugin it is configured with
        try:
            os.chdir(stage)
            otter.generate.main(tests_dir="tests", output_path=str(generated), config="otter_config.json",
                                requirements="requirements.txt", no_environment=True, python_version=PYTHON_VERSION)
        finally:
            os.chdir(cwd)
            sys.path.remove(str(stage / "grader"))
            _forget_bookgrader()  # the plugin otter imported from the staged copy, which goes with tmp
        _write_zip(generated, stage, target)
    return target


def _write_zip(generated: Path, stage: Path, target: Path) -> None:
    """Otter's archive with its run_autograder and run_otter.py replaced, and the staged files added."""
    ours = {"run_autograder", "run_grader.py"}
    with zipfile.ZipFile(generated) as otter_zip, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in otter_zip.infolist():
            if info.filename in ours | {"run_otter.py"}:
                continue
            _add(out, info.filename, otter_zip.read(info))
        for path in sorted(stage.rglob("*")):
            name = path.relative_to(stage).as_posix()
            if path.is_file() and "__pycache__" not in path.parts and (name in ours or name.startswith(("grader/", "package/"))):
                _add(out, name, path.read_bytes())


def _add(out: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible archives
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if name in EXECUTABLE else 0o644) << 16
    out.writestr(info, data)
