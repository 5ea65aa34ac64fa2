"""The Gradescope autograder (make autograder), run as Gradescope runs it, on chapter 3 (and 2, 5, 6, 7).

Chapter 3 is the lightest chapter with graded exercises (its student notebook runs in about
20 s on the stand-in weights; chapter 1 has none: its answers are in words). The archive is
built once; then its ``run_autograder`` runs in a scratch folder laid out as Gradescope's
(``source/`` the unzipped archive, ``submission/``, ``results/results.json``), in this
environment instead of the one ``setup.sh`` would make (no network), with the archive's own
copy of the package. Time limits are shortened so that a loop that never ends costs seconds.

The last tests grade complete submissions of chapters 2, 3, 5, 6, 7 in a container limited as
Gradescope's default one (1/2 vCPU, 768 MB: cgroups where this process may make them, else the
CPU seconds and peak memory scaled), and check what an archive says in a container too small.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import dill
import nbformat
import pytest

import autograder
import cell_flow
import editions
import gradescope_container as container

sys.path.insert(0, str(autograder.RUNTIME))  # bookgrader, as the archive ships it
import notebook_conventions as ex
from support import ROOT
from editions.student_notebook import filled, student_notebook
from notebook_conventions import BEGIN, region_lines

CHAPTER = 3
SOURCE = editions.chapters(ROOT)[CHAPTER - 1]
LIMITS = {"BOOKGRADER_CELL_SECONDS": "20", "BOOKGRADER_TEST_SECONDS": "5"}
MISTAKE = ("torch.sqrt(var + bn.eps)", "torch.sqrt(var)")  # bn_slope_intercept without eps
LOOP = "    while True:  # a loop that never ends\n        pass\n"
VANDAL = '''import pathlib, shutil
import resnetbook
package = pathlib.Path(resnetbook.__file__).resolve().parent
assert package.is_relative_to(pathlib.Path.cwd().resolve().parent), package  # only the scratch copy
shutil.rmtree(package / "check")
pathlib.Path("tests/03-01-ch3-bn-tensors.py").write_text("OK_FORMAT = True\\ntest = {}\\n")'''


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    path = autograder.build(ROOT, SOURCE, CHAPTER, tmp_path_factory.mktemp("autograder"))
    assert path is not None
    return path


def notebooks() -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The chapter's student notebook (unfilled), and the same with the reference solutions put back."""
    student = nbformat.read(editions.student_path(SOURCE), as_version=4)
    return student, filled(student, nbformat.read(SOURCE, as_version=4))


def edited(notebook: nbformat.NotebookNode, function: str, old: str, new: str) -> nbformat.NotebookNode:
    """``notebook`` with ``old`` replaced by ``new`` in the cell that defines ``function``."""
    notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))
    cell = next(c for c in notebook.cells if c.cell_type == "code" and f"def {function}(" in c.source)
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    return notebook


def grade(archive: Path, scratch: Path, files: dict[str, bytes]) -> dict:
    """Run the archive's run_autograder on ``files`` in Gradescope's layout under ``scratch``; its results."""
    container.layout(archive, scratch, files)
    env = {**os.environ, **LIMITS, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(scratch / "source" / "package")}  # setup.sh would install it
    where = subprocess.run([sys.executable, "-c", "import resnetbook; print(resnetbook.__file__)"],
                           env=env, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(scratch), where  # the submissions may delete it
    done = subprocess.run(["bash", str(scratch / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((scratch / "results" / "results.json").read_text())


def by_name(results: dict) -> dict[str, dict]:
    return {test["name"]: test for test in results["tests"]}


def exercise_tests(results: dict) -> dict[str, dict]:
    return {name: test for name, test in by_name(results).items() if name.startswith("Exercise")}


def as_notebook(notebook: nbformat.NotebookNode) -> dict[str, bytes]:
    return {SOURCE.name: nbformat.writes(notebook).encode()}


# ---------------------------------------------------------------- the chapters' markers


def test_points_come_from_the_chapters_and_show_in_the_student_notebook():
    found = {}
    for number, source in enumerate(editions.chapters(ROOT), start=1):
        notebook = nbformat.read(source, as_version=4)
        student = nbformat.read(editions.student_path(source), as_version=4).cells
        for exercise in ex.exercises(notebook, number):
            assert exercise.points is not None and exercise.points > 0, exercise
            heading = f"### Exercise {exercise.number}: {exercise.title}"
            assert any(c.cell_type == "markdown" and heading in c.source for c in student), heading
            found[exercise.label] = exercise
    assert found["ch3-bn-tensors"].points == 4
    assert found["ch3-bn-tensors"].checks == (("bn_equation", "bn_equation"), ("bn_statistics", "bn_statistics"))
    assert found["ch3-slope-intercept"].name == "Exercise 3.2: Slope and intercept"
    assert ex.points("Slope and intercept (1 point)") == 1 and ex.points("Slope and intercept") is None


def test_every_graded_chapter_has_hidden_cases_for_each_checked_function():
    runtime = autograder.RUNTIME / "bookgrader" / "chapters"
    for number, source in enumerate(editions.chapters(ROOT), start=1):
        graded = autograder.graded(nbformat.read(source, as_version=4), number)
        if not graded:
            continue
        spec = (runtime / f"ch{number}.py").read_text()
        for _, function in (check for exercise in graded for check in exercise.checks):
            assert re.search(rf'^\s*"{function}":', spec, re.M), f"ch{number}.py has no hidden cases of {function}"


@pytest.mark.parametrize("number", [n for n, source in enumerate(editions.chapters(ROOT), start=1)
                                    if autograder.graded(nbformat.read(source, as_version=4), n)])
def test_hidden_cases_are_the_same_every_run_and_fail_a_wrong_answer(number):
    """Gradescope must get the build's inputs again; a function that returns nothing fails every case."""
    from bookgrader.cases import difference

    source = editions.chapters(ROOT)[number - 1]
    notebook = nbformat.read(source, as_version=4)
    grader = autograder.RUNTIME
    first, second = (autograder.reference_values(notebook, f"ch{number}", source.stem, grader) for _ in range(2))
    cases = importlib.import_module(f"bookgrader.chapters.ch{number}").CASES  # the runtime's: reference_values forgets its copy
    for function, values in first.items():
        assert len(values) >= 2, function
        for case, want, again in zip(cases[function], values, second[function]):
            assert difference(again, want, rtol=0, atol=0) is None, (function, case.what)
            args = case.args()
            try:
                probed = case.probe(None, args)
            except Exception:  # grading reports what the probe raised
                continue
            assert difference(probed, want) is not None, (function, case.what)


def test_a_check_cell_holds_only_check_calls():
    assert ex.check_calls("check.a(a)\ncheck.b(b)") == [("a", "a"), ("b", "b")]
    for bad in ("print(1)", "check.a(a, 2)", "check.a(a())", "x = check.a(a)"):
        with pytest.raises(ValueError, match="only check"):
            ex.check_calls(bad)


def test_graded_exercise_without_points_is_an_error():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(":::{exercise} No points\n:label: ch9-x\n\nDo it.\n:::"),
        nbformat.v4.new_code_cell("check.f(f)", metadata={"tags": ["student-check"]}),
    ])
    with pytest.raises(ValueError, match=r"gives no points: end it with \(N points\)"):
        ex.exercises(notebook, 9)


# ---------------------------------------------------------------- the archive


def test_archive_holds_otters_setup_our_runner_and_no_solution(archive):
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        texts = {n: zf.read(n).decode() for n in names if not n.endswith((".pt", ".pth"))}
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "run_grader.py", "environment.yml", "otter_config.json"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert sorted(n for n in names if n.startswith("tests/")) == [
        "tests/03-01-ch3-bn-tensors.py", "tests/03-02-ch3-slope-intercept.py", "tests/99-book-files.py"]
    assert "points = 4" in texts["tests/03-01-ch3-bn-tensors.py"]
    assert "mamba env create" in texts["setup.sh"]
    for wanted in ("otter-grader", "torch==", "torchvision==", "/autograder/source/package"):
        assert wanted in texts["environment.yml"], wanted
    assert "package/resnetbook/check/ch3.py" in names and "grader/bookgrader/reference.pt" in names
    solution = [line.strip() for cell in nbformat.read(SOURCE, as_version=4).cells
                if cell.cell_type == "code" and BEGIN in cell.source for line in region_lines(cell.source)]
    solution = [line for line in solution if len(line) > 25 and not line.startswith("#")]
    assert solution
    leaks = [(name, line) for name, text in texts.items() for line in solution if line in text]
    assert not leaks, leaks


def test_the_grading_code_holds_no_chapters_solution():
    """What every archive ships (bookgrader: helpers, hidden cases) against every chapter's solution lines."""
    shipped = "\n".join(p.read_text() for p in autograder.RUNTIME.rglob("*") if p.is_file() and p.suffix in ("", ".py"))
    for source in editions.chapters(ROOT):
        for cell in nbformat.read(source, as_version=4).cells:
            if cell.cell_type == "code" and BEGIN in cell.source:
                lines = [line.strip() for line in region_lines(cell.source)]
                leaks = [line for line in lines if len(line) > 25 and not line.startswith("#") and line in shipped]
                assert not leaks, (source.name, leaks)


# ---------------------------------------------------------------- three submissions


@pytest.mark.slow(seconds=26)
def test_reference_solutions_get_full_marks(archive, tmp_path):
    results = grade(archive, tmp_path, as_notebook(notebooks()[1]))
    tests = exercise_tests(results)
    assert sorted(tests) == ["Exercise 3.1: The equation, tensor by tensor", "Exercise 3.2: Slope and intercept"]
    assert [(t["score"], t["max_score"]) for t in tests.values()] == [(4, 4), (2, 2)], results
    assert by_name(results)["Public Tests"]["status"] == "passed"
    print(json.dumps(results, indent=2))


@pytest.mark.slow(seconds=25)
def test_unfilled_notebook_gets_zero_and_says_what_to_write(archive, tmp_path):
    results = grade(archive, tmp_path, as_notebook(notebooks()[0]))
    for test in exercise_tests(results).values():
        assert test["score"] == 0 and test["max_score"] > 0, test
        assert "is not written yet: its body still raises NotImplementedError" in test["output"], test["output"]
    assert by_name(results)["The book's files"]["output"].endswith("All test cases passed!")
    print(json.dumps(results, indent=2))


@pytest.mark.slow(seconds=29)
def test_one_typical_mistake_costs_that_exercise_only(archive, tmp_path):
    mistake = edited(notebooks()[1], "bn_slope_intercept", *MISTAKE)
    results = grade(archive, tmp_path, as_notebook(mistake))
    tests = exercise_tests(results)
    assert (tests["Exercise 3.1: The equation, tensor by tensor"]["score"]) == 4
    slope = tests["Exercise 3.2: Slope and intercept"]
    assert slope["score"] == 0 and slope["max_score"] == 2, slope
    assert "eps is missing: slope = weight / sqrt(var + eps)" in slope["output"], slope["output"]
    assert "eps is missing" in by_name(results)["Public Tests"]["output"]
    print(json.dumps(results, indent=2))


# ---------------------------------------------------------------- bad submissions


@pytest.mark.slow(seconds=76)
def test_a_notebook_that_loops_fails_and_breaks_the_book_gets_a_result_per_test(archive, tmp_path):
    """Errors in cells, an endless loop and a cell deleting the book's files: the rest still scores."""
    notebook = edited(notebooks()[1], "bn_slope_intercept", "    mean, var = bn_statistics", LOOP + "    mean, var = bn_statistics")
    cells = notebook.cells
    at = next(i for i, c in enumerate(cells) if "def bn_equation(" in c.source)
    cells[at:at] = [nbformat.v4.new_code_cell("this is not python"), nbformat.v4.new_code_cell('raise RuntimeError("boom")')]
    cells.append(nbformat.v4.new_code_cell(VANDAL))
    results = grade(archive, tmp_path, as_notebook(notebook))
    tests = exercise_tests(results)
    assert tests["Exercise 3.1: The equation, tensor by tensor"]["score"] == 4, results
    slope = tests["Exercise 3.2: Slope and intercept"]
    assert slope["score"] == 0 and "did not finish within 5 s and was stopped" in slope["output"], slope
    files = by_name(results)["The book's files"]["output"]
    assert "changed or deleted files of the book" in files, files
    assert "resnetbook/check/ch3.py" in files and "tests/03-01-ch3-bn-tensors.py" in files, files
    with open(tmp_path / "results" / "results.pkl", "rb") as f:  # otter keeps the executed notebook there
        executed = dill.load(f).notebook
    stopped = [out.evalue for cell in executed.cells if cell.cell_type == "code"
               for out in cell.outputs if out.output_type == "error" and out.ename == "TimeLimit"]
    assert stopped and "ran for more than 20 s and was stopped by the autograder" in stopped[0], stopped
    print(json.dumps(results, indent=2))


@pytest.mark.parametrize("files, message", [
    ({"03_batchnorm.pdf": b"%PDF-1.4"}, "holds 03_batchnorm.pdf, and no Jupyter notebook"),
    ({"03_batchnorm.ipynb": b"{not json"}, "is not a readable Jupyter notebook"),
    ({}, "holds no file, and no Jupyter notebook"),
], ids=["pdf", "broken-json", "empty"])
def test_a_submission_that_is_not_a_notebook_gets_zero_per_exercise_with_the_reason(archive, tmp_path, files, message):
    results = grade(archive, tmp_path, files)
    tests = exercise_tests(results)
    assert [t["max_score"] for t in tests.values()] == [4, 2]
    for test in tests.values():
        assert test["score"] == 0 and message in test["output"] and "Submit your notebook, 03_batchnorm.ipynb" in test["output"]


# ---------------------------------------------------------------- Gradescope's default container


def complete_submission(number: int) -> dict[str, bytes]:
    """Chapter ``number``'s student notebook, made from the chapter as it is now, with the reference solutions."""
    source = editions.chapters(ROOT)[number - 1]
    chapter = nbformat.read(source, as_version=4)
    return {source.name: nbformat.writes(filled(student_notebook(chapter, number), chapter)).encode()}


# What each chapter's grading skips (otter_ignore): (a line of a skipped cell, names only skipped cells define).
SKIPPED = {
    5: [("train_starter(splits.X_train", {"starter_baseline"}), ("engine.fit(", {"baseline_model", "best_model"})],
    6: [("degradation.run(X_deg", {"curves"}), ("seed_runs = ", {"residual_gap"}),
        ("gamma1_curve = degradation.trained(", {"gamma1_curve"}), ("def transfer_results(", {"transfer_results"})],
    7: [("detection.held_out_scenes(", {"meta"}), ("onnx_export.export_for_browser(", {"exported"})],
}


@pytest.mark.parametrize("number", sorted(SKIPPED))
def test_grading_skips_the_long_cells_and_no_graded_cell_needs_them(number):
    """Grading never repeats training (or chapter 7's export): otter skips cells tagged otter_ignore; what runs needs none of them."""
    source = editions.chapters(ROOT)[number - 1]
    cells = [c for c in student_notebook(nbformat.read(source, as_version=4), number).cells if c.cell_type == "code"]
    ignored = [c for c in cells if "otter_ignore" in c.metadata.get("tags", [])]
    running = [c for c in cells if c not in ignored]
    only_skipped = set().union(*(cell_flow.names(c.source)[0] for c in ignored))
    only_skipped -= set().union(*(cell_flow.names(c.source)[0] for c in running))
    for line, names in SKIPPED[number]:
        assert any(line in c.source for c in ignored), line
        assert names <= only_skipped, (line, names - only_skipped)
    for cell in running:
        bound, read, inner = cell_flow.names(cell.source)
        used = ((read | inner) - bound) & only_skipped
        assert not used, (cell.get("id"), used)


# 3: the lightest chapter; 5: training; 2, 6, 7: the chapters closest to the 768 MB (peaks 695, 695, 623 MB here)
@pytest.mark.slow(seconds={"ch6": 59, "ch7": 57, "ch2": 53, "ch3": 51}, default=49)
@pytest.mark.parametrize("number", [2, 3, 5, 6, 7], ids=lambda n: f"ch{n}")
def test_a_complete_submission_is_graded_in_gradescopes_default_container(number, tmp_path):
    source = editions.chapters(ROOT)[number - 1]
    archive = autograder.build(ROOT, source, number, tmp_path / "archive")
    limits = {"memory_mb": container.GRADESCOPE["memory_mb"], "cpus": container.GRADESCOPE["cpus"]}
    run = container.grade(archive, tmp_path / "gradescope", complete_submission(number), limits=limits)
    summary = (f"chapter {number}: {run.at_half_cpu_s():.0f} s at 1/2 vCPU, peak {run.peak_mb:.0f} MB "
               f"({'cgroup limits' if run.limited else 'scaled from CPU time'})")
    print(summary)
    assert not run.killed, f"{summary}: the kernel was killed for memory"
    tests = exercise_tests(run.results)
    assert tests and all(t["score"] == t["max_score"] for t in tests.values()), (summary, run.results)
    assert run.at_half_cpu_s() <= container.GRADESCOPE["seconds"], summary
    assert run.peak_mb <= container.GRADESCOPE["memory_mb"], summary


def test_a_container_below_the_chapters_needs_gets_a_result_that_says_what_to_raise(archive, tmp_path):
    container.layout(archive, tmp_path, as_notebook(notebooks()[1]))
    (tmp_path / "source" / "grader" / "bookgrader" / "needs.json").write_text(
        json.dumps({"ch3": {"memory_mb": 1500, "cpus": 0.5, "seconds": 900}}))
    run = container.run(tmp_path, limits={"memory_mb": 768, "cpus": 0.5})
    if not run.limited:
        pytest.skip("this process cannot make cgroups: the container's limits cannot be set")
    assert run.wall_s < 30, "it says so before it grades anything"
    for test in exercise_tests(run.results).values():
        assert test["score"] == 0 and "Instructor: in Gradescope, in the assignment's autograder settings" in test["output"], test
        assert "raise the memory to 1.5 GB or more" in test["output"], test["output"]
        assert "CPUs to 1 or more" in test["output"] and "the timeout to 23 minutes" in test["output"], test["output"]


def test_a_kernel_killed_for_memory_is_reported_in_every_test(archive, tmp_path):
    container.layout(archive, tmp_path, as_notebook(notebooks()[1]))
    (tmp_path / "source" / "grader" / "bookgrader" / "needs.json").write_text("{}")  # grade whatever the size
    run = container.run(tmp_path, limits={"memory_mb": 300, "cpus": 1.0})
    if not run.limited:
        pytest.skip("this process cannot make cgroups: no memory limit to run out of")
    assert run.killed
    tests = exercise_tests(run.results)
    assert [t["max_score"] for t in tests.values()] == [4, 2]
    for test in tests.values():
        assert test["score"] == 0 and "killed for running out of memory (the container has 300 MB)" in test["output"]
        assert "Instructor: raise the memory" in test["output"], test["output"]
