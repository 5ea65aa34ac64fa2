"""Checks of the book's configuration: one repository URL, cache invalidation."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
import yaml

from support import ROOT, toc_sources

CHAPTERS = [source for source in toc_sources() if source.suffix == ".ipynb"]


def _load_cache_key():
    spec = importlib.util.spec_from_file_location("cache_key", ROOT / "scripts" / "cache_key.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_chapter_notebook_is_in_the_toc():
    # _toc.yml is the one list of chapters; the build executes (and tests compare) those in it.
    assert CHAPTERS
    assert sorted((ROOT / "book").glob("*.ipynb")) == sorted(CHAPTERS)


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_colab_setup_cell_uses_the_configured_repository(notebook):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    setup = json.loads(notebook.read_text())["cells"][1]
    source = "".join(setup["source"])
    assert "import resnetbook" in source
    assert f"git+{url}#subdirectory=code" in source


def test_cache_key_ignores_prose_and_follows_code(tmp_path, monkeypatch):
    cache_key = _load_cache_key()
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("requirements.txt", "code", "book"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, root / name)
    monkeypatch.setattr(cache_key, "ROOT", root)
    monkeypatch.delenv("RESNETBOOK_WEIGHTS", raising=False)
    before = cache_key.tree_hash()

    (root / "book" / "intro.md").write_text("A prose-only edit.\n")
    assert cache_key.tree_hash() == before

    (root / "code" / "resnetbook" / "device.py").write_text("# changed\n", "utf-8")
    assert cache_key.tree_hash() != before


def test_cache_key_clears_a_stale_cache(tmp_path, monkeypatch):
    cache_key = _load_cache_key()
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "stale.db").write_text("old outputs")
    monkeypatch.setattr(cache_key, "tree_hash", lambda: "new")
    cache_key.main(cache)
    assert not (cache / "stale.db").exists()
    assert (cache / cache_key.KEY_FILE).read_text().strip() == "new"
    (cache / "kept.db").write_text("current outputs")
    cache_key.main(cache)  # same key: nothing is cleared
    assert (cache / "kept.db").exists()


def test_every_cell_timeout_is_the_book_builds():
    """The cell timeout is typed once (_config.yml); pytest.ini, which cannot import it, agrees."""
    import configparser
    import re

    from notebook_conventions import CELL_TIMEOUT

    addopts = configparser.ConfigParser()
    addopts.read(ROOT / "pytest.ini")
    nbval = re.search(r"--nbval-cell-timeout=(\d+)", addopts["pytest"]["addopts"])
    assert nbval is not None and int(nbval.group(1)) == CELL_TIMEOUT
    typed = [f"{path.relative_to(ROOT)}:{n}" for folder in ("scripts", "tests", "book/_ext", "code")
             for path in (ROOT / folder).rglob("*.py")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(rf"timeout\w*\s*[=:]\s*{CELL_TIMEOUT}\b|{CELL_TIMEOUT}\s*#\s*seconds", line)]
    assert not typed, f"the cell timeout typed again (read notebook_conventions.CELL_TIMEOUT): {typed}"


def test_scripts_import_the_build_tooling_by_name():
    """book/_ext is installed (requirements.txt: -e ./book/_ext), so no script edits sys.path to reach it."""
    reaching = [path.name for path in (ROOT / "scripts").glob("*.py") if "sys.path" in path.read_text(encoding="utf-8")]
    assert not reaching, f"{reaching} edit sys.path; import editions / autograder / notebook_conventions by name"
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    assert "-e ./book/_ext" in lines
