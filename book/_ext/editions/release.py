"""A self-contained student release, for an instructor to push to a public repository.

``make student-release DEST=../resnet-student REPO=course-org/resnet-student`` writes:

- the chapters' student notebooks (``01_architecture.ipynb``, ...), whose first cell
  installs the package from ``REPO`` in Colab; in a book with tracks, also each track's
  notebook of a chapter that has one (``undergraduate/04_looking_inside.ipynb``);
- ``code/``: the book's package, with every ``### BEGIN SOLUTION`` region of its modules
  replaced by a ``raise NotImplementedError`` (the machinery behind worked answers);
- ``README.md``: one Colab link per chapter, and how to run the notebooks elsewhere.

Nothing else of the book (the instructor chapters, tests, build scripts) goes in.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from editions import student_notebooks, tracks
from editions.student_notebook import student_notebook
from notebook_conventions import replace_regions

STRIPPED = "a worked solution: only the instructor edition has it"
INSTALL_URL = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+")
REPO_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def stripped_module(text: str, where: str) -> str:
    """A package module with its solution regions replaced by a NotImplementedError."""
    stripped = replace_regions(text, lambda indent: [f'raise NotImplementedError("{STRIPPED}")'], f"{where}: ")
    return text if stripped is None else stripped + "\n"


def copy_package(code: Path, dest: Path) -> None:
    """Copy the book's package (``code/``) to ``dest`` as students get it: solution regions stripped.

    The student release ships it, and so does each autograder archive (:mod:`autograder`)."""
    shutil.copytree(code, dest, ignore=SKIPPED)
    for module in dest.rglob("*.py"):
        module.write_text(stripped_module(module.read_text(), str(module.relative_to(dest))))


def _readme(repo: str, branch: str, names: list[tuple[str, str]]) -> str:
    rows = "\n".join(
        f"| {title} | [open in Colab](https://colab.research.google.com/github/{repo}/blob/{branch}/{name}) |"
        for name, title in names
    )
    return (
        "# Residual Networks, Run and Read: student notebooks\n\n"
        "One notebook per chapter. Open it in Google Colab (it opens on a GPU runtime, which "
        "speeds up chapter 5); its first cell installs the book's package from this repository. "
        "Each exercise leaves a function for you to write (`# YOUR CODE HERE`) and checks it in "
        "the next cell; answers in words go in the cells marked YOUR ANSWER HERE. The last cell, *Hand in*, "
        "writes the notebook and its PDF, the two files to hand in.\n\n"
        f"| Chapter | Notebook |\n|---|---|\n{rows}\n\n"
        "Elsewhere: `pip install ./code` in a Python environment with Jupyter, then open the notebooks.\n"
    )


def write_release(root: Path, dest: Path, repo: str, branch: str = "main") -> list[Path]:
    """Write the student release of the book at ``root`` into the empty folder ``dest``."""
    if not REPO_NAME.match(repo):
        raise ValueError(f"REPO must be owner/name on GitHub, not {repo!r}")
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty; choose a new folder (nothing was written)")
    dest.mkdir(parents=True, exist_ok=True)
    written, names = [], []
    for source, number, track in student_notebooks(root):
        notebook = nbformat.read(source, as_version=4)
        notebook = student_notebook(tracks.for_track(notebook, track) if track else notebook, number, source.stem)
        setup = next(c for c in notebook.cells if c.cell_type == "code")
        setup.source = INSTALL_URL.sub(f"git+https://github.com/{repo}", setup.source)
        name = f"{track}/{source.name}" if track else source.name
        (dest / name).parent.mkdir(exist_ok=True)
        nbformat.write(notebook, dest / name)
        written.append(dest / name)
        title = notebook.cells[0].source.splitlines()[0].lstrip("# ")
        names.append((name, f"{title} ({track} track)" if track else title))
    copy_package(root / "code", dest / "code")
    (dest / "README.md").write_text(_readme(repo, branch, names))
    return written + [dest / "code", dest / "README.md"]
