"""Handing in a student notebook: the notebook and its PDF (the last cell of every student notebook).

The hand-in cell calls ``hand_in("03_batchnorm")``. It checks that the notebook ran from top
to bottom in this kernel (it names the first code cell that did not run or ran out of order,
and every exercise whose stub still raises ``NotImplementedError``), warns, and still writes
``03_batchnorm.ipynb`` and ``03_batchnorm.pdf``:

- in Colab, from the live notebook (the browser holds it; ``get_ipynb`` is how Colab lets a
  kernel read it), into ``/content``, then downloads both; the PDF converter (Playwright and
  its Chromium) is installed then, not in the first cell;
- elsewhere (Jupyter, VS Code), from the saved file, next to it; a save older than what the
  kernel ran (its code cells differ from the kernel's input history) gets a warning.

For instructors and tests: ``python -m resnetbook.handin NOTEBOOK.ipynb`` writes ``NOTEBOOK.pdf``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from resnetbook import settings

HANDIN_TAG, STUB_TAG = "handin", "student-stub"
STUB_RAISE = "raise NotImplementedError()"
EXERCISE_PREFIX = "### Exercise"


# ---------------------------------------------------------------- what ran


def _is_handin(cell: NotebookNode) -> bool:
    return HANDIN_TAG in cell.metadata.get("tags", []) or "hand_in(" in cell.source


def _heading(notebook: NotebookNode, index: int, prefix: str = "#") -> str | None:
    """The last markdown heading starting with ``prefix`` above cell ``index``."""
    for cell in reversed(notebook.cells[:index]):
        if cell.cell_type == "markdown":
            lines = [line for line in cell.source.splitlines() if line.startswith(prefix)]
            if lines:
                return lines[-1].lstrip("#").strip()
    return None


def describe(notebook: NotebookNode, index: int) -> str:
    """How a student finds cell ``index``: its number among code cells, its section, its first line."""
    number = sum(cell.cell_type == "code" for cell in notebook.cells[: index + 1])
    first = next((line for line in notebook.cells[index].source.splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    section = _heading(notebook, index)
    return f"code cell {number}" + (f" (under “{section}”)" if section else "") + f", starting `{first}`"


def order_problem(notebook: NotebookNode) -> str | None:
    """The first code cell that did not run, or ran before the cell above it; None when all ran in order."""
    previous = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or _is_handin(cell) or not cell.source.strip():
            continue
        count = cell.get("execution_count")
        if count is None:
            return f"{describe(notebook, index)} did not run."
        if count <= previous:
            return f"{describe(notebook, index)} ran out of order: it ran ([{count}]) before the cell above it ([{previous}])."
        previous = count
    return None


def history_problem(notebook: NotebookNode, history: list[str], current: int, saved: bool) -> str | None:
    """Whether the notebook's code cells are what this kernel ran (``history``: its inputs by number).

    ``current`` is the number of the running hand-in cell. For a saved file, a cell whose source
    differs from the input the kernel ran under its number, or a kernel that ran cells after the
    last numbered one, means the save is older than the kernel's work.
    """
    counts = []
    for index, cell in enumerate(notebook.cells):
        count = cell.get("execution_count") if cell.cell_type == "code" and not _is_handin(cell) else None
        if count is None:
            continue
        counts.append(count)
        ran = history[count] if 0 < count < len(history) else None
        if ran is None or ran.strip() != cell.source.strip():
            what = "was run in an earlier session of the kernel" if ran is None else "differs from what the kernel ran"
            if saved:
                return (f"the saved notebook is older than what the kernel ran: {describe(notebook, index)} {what}. "
                        "Save the notebook (File > Save, or Ctrl+S) and run this cell again.")
            return f"{describe(notebook, index)} {what}: run the notebook again from the top (Run all)."
    if saved and counts and max(counts) < current - 1:
        return (f"the kernel ran {current - 1 - max(counts)} cell(s) after your last save: "
                "save the notebook (File > Save, or Ctrl+S) and run this cell again.")
    return None


def stub_problems(notebook: NotebookNode) -> list[str]:
    """The exercises whose stub still raises NotImplementedError (in its code, or in its output)."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or _is_handin(cell):
            continue
        unfilled = STUB_RAISE in cell.source and (STUB_TAG in cell.metadata.get("tags", []) or "# YOUR CODE HERE" in cell.source)
        raised = any(out.get("ename") == "NotImplementedError" for out in cell.get("outputs", []))
        if unfilled or raised:
            exercise = _heading(notebook, index, EXERCISE_PREFIX)
            name = exercise or describe(notebook, index)
            if name not in found:
                found.append(name)
    return found


def check(notebook: NotebookNode, history: list[str] | None = None, current: int = 0, saved: bool = False) -> list[str]:
    """Every warning for the notebook as handed in (empty: it ran top to bottom, all stubs filled)."""
    warnings = [p for p in (order_problem(notebook),) if p]
    if history is not None and (problem := history_problem(notebook, history, current, saved)):
        warnings.append(problem)
    warnings += [f"{name}: the stub still raises NotImplementedError." for name in stub_problems(notebook)]
    return warnings


# ---------------------------------------------------------------- where the notebook is


def in_colab() -> bool:
    """Whether this kernel runs in Google Colab."""
    return "google.colab" in sys.modules or settings.runtime_variable("COLAB_RELEASE_TAG") is not None


def colab_notebook() -> NotebookNode:
    """The live notebook, as Colab's frontend holds it (outputs included)."""
    from google.colab import _message

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=120)
    if not reply or "ipynb" not in reply:
        raise RuntimeError("Colab did not send the notebook: reload the page (keep the runtime) and run this cell again")
    return nbformat.reads(json.dumps(reply["ipynb"]), as_version=4)


def saved_path(name: str, shell: object | None) -> Path:
    """The saved file of this notebook: VS Code's or Jupyter's session path, else ``NAME.ipynb`` here."""
    namespace = getattr(shell, "user_ns", {}) or {}
    for candidate in (namespace.get("__vsc_ipynb_file__"), settings.runtime_variable("JPY_SESSION_NAME")):
        if not candidate or not str(candidate).endswith(".ipynb"):
            continue
        for path in (Path(candidate), Path.cwd() / Path(candidate).name):  # the server may give it from its root
            if path.is_file():
                return path
    path = Path.cwd() / f"{name}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(
            f"no saved notebook {path}: save this notebook as {name}.ipynb in {Path.cwd()} "
            f"(or call hand_in({name!r}, path=...)) and run this cell again")
    return path


# ---------------------------------------------------------------- hand in


def to_pdf(notebook_file: Path) -> Path:
    """``notebook_file`` as a PDF beside it, converted in a fresh process (Playwright's sync API
    does not run inside the kernel's event loop)."""
    done = subprocess.run([sys.executable, "-m", "resnetbook.handin", str(notebook_file)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the PDF conversion failed:\n{done.stderr[-3000:]}")
    return notebook_file.with_suffix(".pdf")


def hand_in(name: str, path: str | Path | None = None) -> tuple[Path, Path]:
    """Check the notebook and write ``name.ipynb`` and ``name.pdf`` (see the module docstring)."""
    from IPython import get_ipython

    shell = get_ipython()
    history = list(shell.history_manager.input_hist_raw) if shell is not None else None
    current = len(history) - 1 if history else 0  # this cell's number: its input is stored before it runs
    colab = in_colab() and path is None
    if colab:
        notebook, out = colab_notebook(), Path.cwd() / f"{name}.ipynb"
    else:
        source = Path(path) if path is not None else saved_path(name, shell)
        notebook, out = nbformat.read(source, as_version=4), source.parent / f"{name}.ipynb"
    warnings = check(notebook, history, current, saved=not colab)
    for warning in warnings:
        print(f"WARNING: {warning}")
    if not warnings:
        count = sum(c.cell_type == "code" and not _is_handin(c) for c in notebook.cells)
        print(f"All {count} code cells ran in order in this kernel, and every exercise is filled in.")
    if colab:
        from resnetbook.handin_pdf import ensure_converter

        seconds = ensure_converter()
        if seconds:
            print(f"Installed the PDF converter in {seconds:.0f} s.")
    if colab or source.resolve() != out.resolve():
        nbformat.write(notebook, out)
    try:
        pdf = to_pdf(out)
    except RuntimeError as error:  # Colab: Chromium starts only once its system libraries are there
        from resnetbook.handin_pdf import MISSING_LIBRARIES, install_browser_libraries

        if not (colab and any(m in str(error) for m in MISSING_LIBRARIES) and install_browser_libraries()):
            raise
        pdf = to_pdf(out)
    print(f"Wrote {out} and {pdf}: hand in both.")
    if colab:
        from google.colab import files

        files.download(str(out))
        files.download(str(pdf))
    return out, pdf


def main(argv: list[str] | None = None) -> int:
    """``python -m resnetbook.handin NOTEBOOK.ipynb``: write ``NOTEBOOK.pdf`` beside it."""
    parser = argparse.ArgumentParser(description="Write NOTEBOOK.pdf beside NOTEBOOK.ipynb (no LaTeX: Chromium).")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--check", action="store_true", help="also print the notebook's hand-in warnings")
    args = parser.parse_args(argv)
    from resnetbook.handin_pdf import notebook_to_pdf

    if args.check:
        for warning in check(nbformat.read(args.notebook, as_version=4)):
            print(f"WARNING: {warning}")
    print(notebook_to_pdf(args.notebook))
    return 0


if __name__ == "__main__":
    sys.exit(main())
