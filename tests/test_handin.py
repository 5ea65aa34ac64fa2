"""The "Hand in" cell of the student notebooks (resnetbook.handin, resnetbook.handin_pdf).

A filled student notebook runs in a kernel, is saved, and then its hand-in cell runs in the
same kernel, as in plain Jupyter. The PDF is read back with poppler's ``pdftotext`` and
``pdfimages``: every answer cell's text and every line of the student's code is in it, and
it holds as many images as the notebook has figures. Chapter 3 runs whole; chapter 5 trains
for minutes, so its notebook here keeps the cells before the training (its sample-image
figure, its exercise's code and answer) and a learning-curve figure of a two-epoch history.
A toy notebook checks the warnings (a skipped cell, a stale save, an unfilled stub) and the
Colab path, with Colab's ``get_ipynb`` and ``files.download`` replaced by stand-ins.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.util import run_sync

import notebook_conventions as conventions
import editions
from editions import student_notebook as sn
from notebook_conventions import CELL_TIMEOUT
from resnetbook import handin
from resnetbook.handin_pdf import chromium_options
from support import ROOT

CHAPTERS = editions.chapters(ROOT)

if shutil.which("pdftotext") is None or shutil.which("pdfimages") is None:
    pytest.skip("poppler-utils is missing: `bash scripts/provision.sh poppler`", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
try:
    chromium_options()
except FileNotFoundError as error:
    pytest.skip(str(error), allow_module_level=True)


# ---------------------------------------------------------------- helpers


def answer_text(label: str) -> str:
    return f"**Your answer:** for {label}, the learning rate matters more than the width (answer of {label})."


def filled_student(number: int) -> nbformat.NotebookNode:
    """Chapter ``number``'s student notebook, its stubs and answer cells filled in."""
    source = nbformat.read(CHAPTERS[number - 1], as_version=4)
    notebook = sn.filled(sn.student_notebook(source, number, CHAPTERS[number - 1].stem), source)
    for cell in notebook.cells:
        if conventions.ANSWER_TAG in cell.metadata.get("tags", []):
            cell.source = answer_text(cell.id.removesuffix("-answer"))
    return notebook


def run_and_hand_in(notebook: nbformat.NotebookNode, folder: Path, name: str, skip: set[str] = frozenset(),
                    after_save: str | None = None, before: str = "") -> str:
    """Run every cell but the hand-in cell (and ``skip``), save ``name``.ipynb, run ``after_save``
    (a cell the save does not hold) then the hand-in cell in the same kernel; its printed text."""
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel():
        if before:
            run_sync(client.kc.execute_interactive)(before, store_history=False)
        for index, cell in enumerate(notebook.cells[:-1]):
            if cell.cell_type == "code" and cell.id not in skip:
                client.execute_cell(cell, index)
        nbformat.write(notebook, folder / f"{name}.ipynb")
        if after_save is not None:
            run_sync(client.kc.execute_interactive)(after_save, store_history=True)
        cell = notebook.cells[-1]
        assert "hand_in(" in cell.source
        client.execute_cell(cell, len(notebook.cells) - 1)
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def pdf_text(pdf: Path) -> str:
    """The PDF's text; ``-layout`` keeps a ``-`` that ends a wrapped line (else read as a hyphen)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return unicodedata.normalize("NFKC", text)


def squeezed(text: str) -> str:
    """``text`` without whitespace: a line wrapped in the PDF still matches."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def pdf_images(pdf: Path) -> int:
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in listing.splitlines()[2:] if line.split()[2] == "image")


def words_off_the_page(pdf: Path) -> list[str]:
    """Words whose box reaches past its page's right or bottom edge (a cut line or page)."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    off = []
    for page in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', html, re.S):
        width, height = float(page[1]), float(page[2])
        for word in re.finditer(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', page[3]):
            if float(word[1]) > width or float(word[2]) > height:
                off.append(word[3])
    return off


def figures(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for c in notebook.cells if c.cell_type == "code" for out in c.outputs)


def check_pdf(notebook: nbformat.NotebookNode, pdf: Path) -> None:
    """Every answer cell's text and student code line is in the PDF; one image per figure."""
    text = squeezed(pdf_text(pdf))
    answers = [c for c in notebook.cells if conventions.ANSWER_TAG in c.metadata.get("tags", [])]
    for cell in answers:
        assert squeezed(cell.source.replace("**", "")) in text, f"answer {cell.id} is not in the PDF"
    code = [c for c in notebook.cells if conventions.STUB_TAG in c.metadata.get("tags", [])]
    for cell in code:
        for line in cell.source.splitlines():
            assert squeezed(line) in text, f"line {line!r} of {cell.id} is not in the PDF"
    assert pdf_images(pdf) == figures(notebook) > 0
    assert words_off_the_page(pdf) == []


# ---------------------------------------------------------------- chapters


@pytest.mark.slow(seconds=24)
def test_chapter3_hand_in_pdf(tmp_path):
    notebook = filled_student(3)
    printed = run_and_hand_in(notebook, tmp_path, "03_batchnorm")
    assert "WARNING" not in printed, printed
    assert re.search(r"All \d+ code cells ran in order", printed), printed
    assert (tmp_path / "03_batchnorm.pdf").is_file()
    check_pdf(notebook, tmp_path / "03_batchnorm.pdf")
    assert "Hand in" in pdf_text(tmp_path / "03_batchnorm.pdf")


CH5_HISTORY = """from resnetbook import training
history = training.History()
for epoch, (loss, train_acc, val_acc) in enumerate([(1.2, 0.60, 0.65), (0.8, 0.72, 0.70)], start=1):
    history.record(epoch, loss, train_acc, val_acc, seconds=10.0 * epoch)
fig, ax = plt.subplots(figsize=(5, 3.2))
plotting.learning_curves(ax, history, "two epochs")"""


def chapter5_figures() -> nbformat.NotebookNode:
    """Chapter 5's student notebook up to its training, its answer cell, a learning-curve figure, hand-in."""
    notebook = filled_student(5)
    first_training = next(i for i, c in enumerate(notebook.cells) if c.id == "05-028")
    keep = notebook.cells[:first_training]
    keep = [c for c in keep if "student-check" not in c.metadata.get("tags", []) and c.id != "05-022"]
    keep += [c for c in notebook.cells[first_training:] if conventions.ANSWER_TAG in c.metadata.get("tags", [])]
    keep.append(nbformat.v4.new_code_cell(CH5_HISTORY, id="curves"))
    notebook.cells = keep + notebook.cells[-2:]
    return notebook


@pytest.mark.slow(seconds=19)
def test_chapter5_figures_hand_in_pdf(tmp_path):
    notebook = chapter5_figures()
    printed = run_and_hand_in(notebook, tmp_path, "05_training")
    assert "WARNING" not in printed, printed
    check_pdf(notebook, tmp_path / "05_training.pdf")
    assert figures(notebook) >= 2


# ---------------------------------------------------------------- warnings, Colab


def toy_notebook() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell("# Toy\n\n## Setup", id="title"),
        nbformat.v4.new_code_cell("a = 1", id="a"),
        nbformat.v4.new_code_cell("b = 2  # the cell a student skips", id="b"),
        nbformat.v4.new_markdown_cell("### Exercise 9.1: Add (1 point)", id="ex"),
        nbformat.v4.new_code_cell("def add(x, y):\n    " + "\n    ".join(sn.STUB_BODY), id="stub"),
    ]
    cells[-1].metadata["tags"] = [conventions.STUB_TAG]
    return nbformat.v4.new_notebook(cells=cells + sn.handin_cells("09_toy"))


def test_skipped_cell_and_stub_are_named(tmp_path):
    printed = run_and_hand_in(toy_notebook(), tmp_path, "09_toy", skip={"b"})
    assert "WARNING: code cell 2 (under “Setup”), starting `b = 2  # the cell a student skips` did not run." in printed
    assert "WARNING: Exercise 9.1: Add (1 point): the stub still raises NotImplementedError." in printed
    assert (tmp_path / "09_toy.pdf").is_file(), "a warning still lets the student hand in"


def test_a_save_older_than_the_kernel_is_detected(tmp_path):
    printed = run_and_hand_in(toy_notebook(), tmp_path, "09_toy", after_save="b = 3")
    assert "WARNING: the kernel ran 1 cell(s) after your last save" in printed, printed
    assert "did not run" not in printed, printed


def test_out_of_order_cell_is_named():
    notebook = toy_notebook()
    for count, cell_id in ((1, "a"), (3, "b"), (2, "stub")):
        next(c for c in notebook.cells if c.id == cell_id).execution_count = count
    assert handin.order_problem(notebook).startswith("code cell 3 (under “Exercise 9.1: Add (1 point)”), starting `def add(x, y):` ran out of order")


COLAB_STAND_IN = """import json, sys, types
google = types.ModuleType("google"); colab = types.ModuleType("google.colab")
_message = types.ModuleType("google.colab._message"); files = types.ModuleType("google.colab.files")
requests, downloads = [], []
def blocking_request(kind, request="", timeout_sec=None):
    requests.append(kind)
    return {"ipynb": json.load(open(LIVE))}
_message.blocking_request = blocking_request
files.download = downloads.append
colab._message, colab.files, google.colab = _message, files, colab
sys.modules.update({"google": google, "google.colab": colab, "google.colab._message": _message, "google.colab.files": files})
"""


def test_colab_path_reads_the_live_notebook_and_downloads_both(tmp_path):
    live = tmp_path / "live.ipynb"  # what the stand-in of Colab's frontend sends
    notebook = toy_notebook()
    notebook.cells[-1].source += "\nprint('downloads:', downloads, 'requests:', requests)"
    printed = run_and_hand_in(notebook, tmp_path, "live", before=f"LIVE = {str(live)!r}\n" + COLAB_STAND_IN)
    assert f"downloads: ['{tmp_path}/09_toy.ipynb', '{tmp_path}/09_toy.pdf'] requests: ['get_ipynb']" in printed, printed
    handed = nbformat.read(tmp_path / "09_toy.ipynb", as_version=4)
    assert [c.source for c in handed.cells] == [c.source for c in notebook.cells]
    assert "stub still raises NotImplementedError" in printed and "did not run" not in printed
    assert "Add (1 point)" in pdf_text(tmp_path / "09_toy.pdf")


def test_command_writes_the_pdf_beside_the_notebook(tmp_path):
    path = tmp_path / "09_toy.ipynb"
    nbformat.write(toy_notebook(), path)
    done = subprocess.run([sys.executable, "-m", "resnetbook.handin", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert path.with_suffix(".pdf").is_file()
    assert "def add(x, y):" in pdf_text(path.with_suffix(".pdf"))


def test_missing_notebook_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(FileNotFoundError, match="save this notebook as 09_toy.ipynb"):
        handin.saved_path("09_toy", None)


def test_the_saved_file_is_found_under_another_name(tmp_path, monkeypatch):
    """Jupyter names the notebook's file from its root (JPY_SESSION_NAME); the kernel runs beside it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Copy of 09_toy.ipynb").write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", "course/week3/Copy of 09_toy.ipynb")
    assert handin.saved_path("09_toy", None) == tmp_path / "Copy of 09_toy.ipynb"
