"""The student release (make student-release): self-contained, pointed at its repository, no solutions.

The release is what a student installs in Colab, so the leak test covers its package too:
no line of a chapter's worked solution and no line of a package solution region appears
in any file of the release, and every module of the stripped package still imports.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import notebook_conventions as conventions
import editions
from support import ROOT
from editions import release, student_notebook
from test_student_edition import narrative_lines, solution_lines

REPO = "course-org/resnet-student"
# A worked solution copied into the package shows as most of its lines there; a few
# shared idioms (`with torch.no_grad():`, the engine's `scaler.step(optimizer)`) are not a copy.
COPIED_LINES = 3


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("release") / "resnet-student"
    release.write_release(ROOT, dest, REPO)
    return dest


def package_solution_lines() -> set[str]:
    """Specific lines inside the package's solution regions (not also used outside them)."""
    inside, outside = set(), set()
    for module in (ROOT / "code" / "resnetbook").rglob("*.py"):
        text = module.read_text()
        inside.update(l.strip() for l in conventions.region_lines(text) if len(l.strip()) >= 16)
        kept = release.stripped_module(text, module.name)
        outside.update(l.strip() for l in kept.splitlines())
    return inside - outside


def release_text(dest: Path, suffixes: set[str] = frozenset({".py", ".ipynb", ".md", ".toml", ".json", ".txt"})) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(dest.rglob("*")) if p.is_file() and p.suffix in suffixes)


def test_release_holds_the_notebooks_the_package_and_a_readme(released):
    chapters = editions.chapters(ROOT)
    assert sorted(p.name for p in released.glob("*.ipynb")) == sorted(p.name for p in chapters)
    assert (released / "code" / "pyproject.toml").is_file() and (released / "code" / "resnetbook" / "check").is_dir()
    assert not any(name in p.relative_to(released).parts for p in released.rglob("*") for name in ("tests", "_ext", "__pycache__"))
    readme = (released / "README.md").read_text()
    for chapter in chapters:
        assert f"https://colab.research.google.com/github/{REPO}/blob/main/{chapter.name}" in readme


def test_release_notebooks_install_from_the_release_repository(released):
    for path in released.glob("*.ipynb"):
        setup = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert f"git+https://github.com/{REPO}#subdirectory=code" in setup.source, path.name


def test_release_leaks_no_worked_solution(released):
    text = release_text(released)
    assert re.search(rf"^\s*{conventions.BEGIN}\s*$", text, re.M) is None  # no region left
    notebooks = release_text(released, suffixes={".ipynb", ".md"})
    sources = [nbformat.read(p, as_version=4) for p in editions.chapters(ROOT)]
    shown = set().union(*(narrative_lines(nb) for nb in sources))  # what any student notebook shows
    found = {}
    for path, notebook in zip(editions.chapters(ROOT), sources):
        lines = sorted(line for line in solution_lines(notebook, shown) if line in notebooks)
        if lines:
            found[path.name] = lines
    assert found == {}
    code = release_text(released, suffixes={".py"})
    copied = {cell: lines for cell, lines in solution_cells(sources).items()
              if len([line for line in lines if line in code]) >= max(COPIED_LINES, len(lines) / 2)}
    assert copied == {}, "the release's package holds a copy of these worked solutions"
    assert sorted(line for line in package_solution_lines() if line in text) == []


def solution_cells(sources) -> dict[str, list[str]]:
    """The specific code lines of each worked-solution cell, by cell id."""
    cells = {}
    for notebook in sources:
        for cell, inside in student_notebook.by_place(notebook):
            if inside and cell.cell_type == "code":
                code = conventions.region_lines(cell.source) or cell.source.splitlines()
                cells[cell.get("id")] = [l.strip() for l in code if len(l.strip()) >= 16 and not l.strip().startswith("#")]
    return cells


def test_the_leak_check_sees_solutions_where_they_are():
    # Guards the test above: the instructor's chapters hold the lines it looks for.
    text = "\n".join(p.read_text() for p in editions.chapters(ROOT))
    assert any(line in text for p in editions.chapters(ROOT) for line in solution_lines(nbformat.read(p, as_version=4)))


def test_stripped_package_still_imports(released):
    code = (
        "import importlib, pkgutil, resnetbook\n"
        "for m in pkgutil.walk_packages(resnetbook.__path__, 'resnetbook.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print(resnetbook.__file__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=released / "code", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert str(released / "code") in result.stdout  # the release's copy, not the instructor's


def test_a_solution_region_in_a_module_is_replaced():
    module = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n'
    stripped = release.stripped_module(module, "m.py")
    assert "return x + 1" not in stripped and "def f(x):" in stripped and '"""Doc."""' in stripped
    namespace = {}
    exec(stripped, namespace)
    with pytest.raises(NotImplementedError, match="instructor edition"):
        namespace["f"](1)


def test_release_refuses_a_used_folder_and_a_bad_repository(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        release.write_release(ROOT, tmp_path / "used", REPO)
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="owner/name"):
        release.write_release(ROOT, tmp_path / "new", "not a repo")


def test_a_copied_solution_in_the_package_is_caught(released, tmp_path):
    # Guards the copy check above: the chapter-5 loop pasted into a module is found.
    sources = [nbformat.read(p, as_version=4) for p in editions.chapters(ROOT)]
    cells = solution_cells(sources)
    cell, lines = max(cells.items(), key=lambda item: len(item[1]))
    code = release_text(released, suffixes={".py"}) + "\n".join(lines)
    assert len([line for line in lines if line in code]) >= max(COPIED_LINES, len(lines) / 2)
