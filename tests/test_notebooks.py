"""The chapters' stored outputs against the site build's execution, with nbval's rules.

Each chapter stores reference outputs (`make outputs`). `make test` does not execute the
chapters again: the site build's own execution (`_build/.jupyter_cache`, filled by
`make book`) is the second, independent run, and every code cell's outputs in it are
compared with the stored ones by nbval's own comparison (``IPyNbCell.compare_outputs``),
after nbval_sanitize.cfg; cells tagged `nbval-ignore-output` are not compared. (nbval's
re-execution of book/ would be a third run of every chapter, which checks nothing more.)
This file checks what makes that comparison mean something:

- the comparison fails a notebook whose stored fact was edited (a fixture, and a real
  chapter against its build), nbval itself does too, and the sanitizers absorb only
  what they should;
- the chapters follow the conventions the student edition and nbval rely on, and
  carry reference outputs (an unexecuted cell would never be compared);
- the site build's execution of each chapter gives the same checked outputs as the
  stored ones: two runs, identical facts.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from types import SimpleNamespace
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache
from nbval.plugin import (IPyNbCell, coalesce_streams, find_comment_markers, find_metadata_tags,
                          get_sanitize_patterns, nocolors)

from notebook_conventions import GLUE_CALL, GLUE_ROLE, SOLUTION_BLOCK_LABEL, START_RE, exercises
from support import ROOT, toc_sources
from notebook_fixtures import chapter_notebook

SANITIZE = ROOT / "nbval_sanitize.cfg"
CHAPTERS = [source for source in toc_sources() if source.suffix == ".ipynb"]
EXECUTION_CACHE = ROOT / "_build" / ".jupyter_cache"
NOT_COMPARED = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}  # as nbval
MAX_NOTEBOOK_BYTES = 1_000_000


def _patterns() -> list[tuple[str, str]]:
    return get_sanitize_patterns(SANITIZE.read_text())


def _sanitize(text):
    if not isinstance(text, str):
        return text
    for regex, replace in _patterns():
        text = re.sub(regex, replace, text)
    return text


def checked_outputs(notebook) -> dict[str, list]:
    """What nbval compares, per cell id: sanitized stream texts and output data."""
    checked = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        options = dict(find_metadata_tags(cell.metadata)) | dict(find_comment_markers(cell.source))
        if options.get("skip") or options.get("check") is False:
            continue
        items = []
        for output in coalesce_streams(copy.deepcopy(cell.outputs)):
            if output.output_type == "stream":
                items.append((output.name, _sanitize(output.text)))
            elif output.output_type == "error":
                items.append(("error", output.ename))
            else:
                items += [(key, _sanitize(value)) for key, value in sorted(output.data.items()) if key not in NOT_COMPARED]
        checked[f"{len(checked)}:{cell.get('id')}"] = items
    return checked


# What nbval 0.11 skips in every comparison (``IPyNbFile.skip_compare``, without --nbdime).
NBVAL_SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                      "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


class _NbvalCell:
    """What nbval's ``IPyNbCell.compare_outputs`` reads from its cell item, without a kernel."""

    colors = nocolors
    config = None
    ihook = SimpleNamespace(pytest_assertrepr_compare=lambda **_: [])  # nbval's plain report, not pytest's diff
    sanitize = IPyNbCell.sanitize
    compare_outputs = IPyNbCell.compare_outputs
    format_output_compare = IPyNbCell.format_output_compare

    def __init__(self) -> None:
        self.parent = SimpleNamespace(skip_compare=NBVAL_SKIP_COMPARE, sanitize_patterns=OrderedDict(_patterns()))
        self.comparison_traceback: list[str] = []


def nbval_options(cell) -> dict:
    """nbval's options for a code cell (its tags, then its comment markers; ``check`` by default)."""
    options = dict(find_metadata_tags(cell.metadata)) | dict(find_comment_markers(cell.source))
    return {"check": True, "skip": False} | options


def nbval_differences(stored, executed) -> dict[str, str]:
    """The code cells (by id) whose ``executed`` outputs nbval would fail against the ``stored`` ones,
    each with nbval's report. The notebooks have the same code cells (as a cache match guarantees)."""
    ran = {cell.get("id"): cell for cell in executed.cells if cell.cell_type == "code"}
    differing = {}
    for cell in stored.cells:
        options = nbval_options(cell) if cell.cell_type == "code" else {}
        if not options or options["skip"] or not options["check"] or cell.execution_count is None:
            continue
        item = _NbvalCell()
        test = coalesce_streams(copy.deepcopy(ran[cell.get("id")].outputs))
        if not item.compare_outputs(test, coalesce_streams(copy.deepcopy(cell.outputs))):
            differing[cell.get("id")] = "\n".join(item.comparison_traceback)
    return differing


# --- nbval itself ---------------------------------------------------------------


def test_every_sanitizer_parses():
    # nbval silently drops a section whose lines do not match its two regexes.
    sections = re.findall(r"^\[.+\]$", SANITIZE.read_text(), flags=re.M)
    assert len(_patterns()) == len(sections) > 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<Foo object at 0x7f3a2c1d0e50>", "<Foo object at 0xADDRESS>"),
        ("epoch 1 took 12.5 s (0.3 ms per batch)", "epoch 1 took DURATION (DURATION per batch)"),
        ("100%|##########| 10/10 [00:01<00:00,  9.52it/s]", "PROGRESS-BAR"),
        ("/home/u/.venv/lib/python3.11/site-packages/torch/nn/x.py:5: UserWarning", "PYTHON-PACKAGES/torch/nn/x.py:5: UserWarning"),
        ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\n", "IMAGE-DATA"),
        # Facts stay as they are.
        ("conv1 is line 268; 18 layers; torch.Size([64, 3, 7, 7])", "conv1 is line 268; 18 layers; torch.Size([64, 3, 7, 7])"),
        ("accuracy 0.9123 after 10 epochs", "accuracy 0.9123 after 10 epochs"),
    ],
)
def test_sanitizers_absorb_variance_and_keep_facts(text, expected):
    assert _sanitize(text) == expected


def _nbval_notebooks(folder: Path) -> tuple[Path, Path]:
    """A notebook whose stored outputs nbval accepts, and a copy with one fact edited."""
    notebook = chapter_notebook()
    stream = nbformat.v4.new_output
    varying = [
        ("v1", "print(object())", "<object object at 0x7f0000000001>\n", []),
        ("v2", "import time\nprint(f'took {time.perf_counter() % 1 + 1:.3f} s')", "took 9.876 s\n", []),
        ("v3", "import random\nprint(random.random())", "0.123\n", ["nbval-ignore-output"]),
        ("v4", "len([1, 2]);", None, []),  # a trailing ; shows nothing, as in Jupyter
    ]
    for count, (cell_id, source, text, tags) in enumerate(varying, start=10):
        cell = nbformat.v4.new_code_cell(source, id=cell_id, execution_count=count)
        cell.outputs = [stream("stream", name="stdout", text=text)] if text else []
        cell.metadata["tags"] = tags
        notebook.cells.append(cell)
    good, bad = folder / "good.ipynb", folder / "bad.ipynb"
    nbformat.write(notebook, good)
    notebook.cells[2].outputs[0].text = "fact: 6\n"  # the code prints "fact: 5"
    nbformat.write(notebook, bad)
    return good, bad


def _executed_again(notebook):
    """``notebook`` as another run prints it: other addresses and timings, other ignored values."""
    again = copy.deepcopy(notebook)
    texts = {"v1": "<object object at 0x7fffffff0002>\n", "v2": "took 1.234 s\n", "v3": "0.987\n"}
    for cell in again.cells:
        if cell.get("id") in texts:
            cell.outputs[0].text = texts[cell.get("id")]
    return again


def test_the_comparison_fails_a_changed_fact_and_passes_legit_variance(tmp_path):
    good, bad = (nbformat.read(path, as_version=4) for path in _nbval_notebooks(tmp_path))
    executed = _executed_again(good)
    assert nbval_differences(good, executed) == {}
    differing = nbval_differences(bad, executed)
    assert list(differing) == [bad.cells[2].get("id")]
    assert "fact: 6" in differing[bad.cells[2].get("id")] and "fact: 5" in differing[bad.cells[2].get("id")]
    extra = copy.deepcopy(executed)
    extra.cells[2].outputs.append(nbformat.v4.new_output("stream", name="stderr", text="a warning\n"))
    assert list(nbval_differences(good, extra)) == [good.cells[2].get("id")]  # an output nobody stored


def test_nbval_fails_a_changed_fact_and_passes_legit_variance(tmp_path):
    good, bad = _nbval_notebooks(tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the book's configuration...
    shutil.copy(ROOT / "conftest.py", tmp_path)  # ...but its nbval fix (trailing semicolons)
    report = tmp_path / "report.xml"
    command = [
        sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), "-p", "no:cacheprovider",
        "--nbval", "--nbval-current-env", f"--nbval-sanitize-with={SANITIZE}",
        f"--junitxml={report}", "-q", str(good), str(bad),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[f"{Path(case.get('file') or case.get('classname')).stem}::{case.get('name')}"] = failed
    failures = sorted(name for name, failed in outcomes.items() if failed)
    assert result.returncode == 1, result.stdout[-3000:]
    n_code = sum(c.cell_type == "code" for c in nbformat.read(good, as_version=4).cells)
    assert len(outcomes) == 2 * n_code  # every code cell of both notebooks is a test
    assert failures == ["bad::Cell 1"], result.stdout[-3000:]
    assert "fact: 6" in result.stdout and "fact: 5" in result.stdout


# --- the chapters ---------------------------------------------------------------


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_the_conventions(path):
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert cells[1].cell_type == "code" and "remove-cell" in cells[1].metadata.get("tags", [])
    ids = [cell.get("id") for cell in cells]
    assert None not in ids and len(set(ids)) == len(ids), "every cell has a unique id"
    text = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    chapter = int(path.name[:2])
    exercises_ = [exercise.label for exercise in exercises(notebook, chapter)]
    solved = [start["label"] for start in START_RE.finditer(text)] + SOLUTION_BLOCK_LABEL.findall(text)
    assert exercises_, "a chapter poses at least one exercise"
    assert all(label.startswith(f"ch{chapter}-") for label in exercises_), exercises_
    assert sorted(solved) == sorted(set(exercises_)), "each exercise has exactly one worked solution"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_stores_reference_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        "nbval compares only executed cells: run `make outputs` and commit the chapters"
    )
    kept = {key for cell in code for out in cell.outputs for key in out.get("data", {})}
    assert not kept & {"image/png", "image/jpeg"}, "figure payloads are not committed (make outputs strips them)"
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES


def test_the_chapters_have_compared_outputs():
    # Guards nbval and the test below against comparing nothing (a chapter whose
    # outputs all depend on the weights may have none of its own).
    compared = [cell for path in CHAPTERS for cell in checked_outputs(nbformat.read(path, as_version=4)).values() if cell]
    assert len(compared) >= 10


def _built(stored):
    """The site build's execution of the chapter ``stored``, as Jupyter Book cached it (matched on code cells)."""
    if not (EXECUTION_CACHE / "global.db").exists():
        message = f"no execution cache in {EXECUTION_CACHE.relative_to(ROOT)}; run `make book`"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    try:
        return get_cache(str(EXECUTION_CACHE)).merge_match_into_notebook(copy.deepcopy(stored))[1]
    except KeyError:
        pytest.fail("the site was not built from the chapter's current code; run `make book`")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_site_build_gives_the_stored_outputs(path):
    stored = nbformat.read(path, as_version=4)
    built = _built(stored)
    assert nbval_differences(stored, built) == {}


def test_an_edited_stored_fact_differs_from_the_build():
    # The real pipeline with a seeded defect: one compared output of a chapter, edited.
    path = next(p for p in CHAPTERS if any(checked_outputs(nbformat.read(p, as_version=4)).values()))
    stored = nbformat.read(path, as_version=4)
    built = _built(stored)
    cell, stream, edited = next(
        (c, o, edit) for c in stored.cells if c.cell_type == "code" and nbval_options(c)["check"]
        for o in c.outputs if o.output_type == "stream"
        for edit in [re.sub(r"\d", lambda d: str((int(d.group()) + 1) % 10), o.text, count=1)]
        if _sanitize(edit) != _sanitize(o.text))  # a digit the sanitizers keep: a fact
    stream.text = edited
    assert list(nbval_differences(stored, built)) == [cell.get("id")]


# --- stored outputs are current, and nothing that varies is compared -------------

# Names whose values come from training or the clock: a cell whose compared output
# mentions them would compare a machine's numbers byte for byte.
VARYING = re.compile(r"\.seconds\b|_seconds\b|\b\w*_runs\b|\bbaseline\b|\bbest_history\b|\bfit\(|train_starter\(|\w_acc\b")
FIGURE = re.compile(r"^<Figure size \d+x\d+ with \d+ Axes>$")  # a figure's repr: its size, not its data


def glue_names(notebook) -> tuple[set[str], set[str], set[str]]:
    """(glued by the code, stored as glue outputs, used by the text) of a chapter."""
    code = {name for c in notebook.cells if c.cell_type == "code" for name in (m['name'] for m in GLUE_CALL.finditer(c.source))}
    stored = {
        out.get("metadata", {}).get("scrapbook", {}).get("name")
        for c in notebook.cells if c.cell_type == "code" for out in c.outputs
    } - {None}
    used = {name for c in notebook.cells if c.cell_type == "markdown" for name in (m['name'] for m in GLUE_ROLE.finditer(c.source))}
    return code, stored, used


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_hold_what_the_code_glues(path):
    code, stored, used = glue_names(nbformat.read(path, as_version=4))
    assert code - stored == set(), "glued by the code but not in the stored outputs: run `make outputs`"
    assert stored - code == set(), "stored glue the code no longer writes: run `make outputs`"
    assert used - code == set(), "the text uses glue names no code cell writes"


def test_stale_glue_is_caught():
    notebook = chapter_notebook()
    cell = next(c for c in notebook.cells if c.cell_type == "code")
    cell.source += '\nglue("brand_new", 1, display=False)'
    code, stored, _ = glue_names(notebook)
    assert "brand_new" in code - stored


def only_figures(items: list) -> bool:
    return all(kind == "text/plain" and FIGURE.match(value) for kind, value in items)


def compared_but_varying(notebook) -> list[str]:
    """Cells whose compared (non-figure) output comes from code that trains or times."""
    compared = checked_outputs(notebook)
    return [
        f"{cell.get('id')}: {VARYING.search(cell.source).group()}"
        for cell in notebook.cells
        if cell.cell_type == "code" and VARYING.search(cell.source)
        and any(key.endswith(f":{cell.get('id')}") and not only_figures(items) for key, items in compared.items())
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_nothing_that_varies_is_compared(path):
    risky = compared_but_varying(nbformat.read(path, as_version=4))
    assert risky == [], "tag these cells nbval-ignore-output and assert what the text says instead"


def test_a_compared_timing_is_caught():
    notebook = chapter_notebook()
    cell = nbformat.v4.new_code_cell("print(f'{history.seconds[-1]:.0f}')", id="timed", execution_count=99)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="72\n")]
    notebook.cells.append(cell)
    assert compared_but_varying(notebook) == ["timed: .seconds"]
    cell.metadata["tags"] = ["nbval-ignore-output"]
    assert compared_but_varying(notebook) == []
