"""scripts/execute_chapters.py: chapters executed in parallel land in the cache MyST-NB reads."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

from support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))  # importable by name: the worker processes unpickle its functions
import execute_chapters


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_executed_chapters_are_matched_as_myst_nb_matches_them(tmp_path, capsys) -> None:
    books = [_notebook(tmp_path / f"0{i}_ch.ipynb", f"print({i} * 7)") for i in (1, 2)]
    cache = tmp_path / "cache"
    assert execute_chapters.run(cache, books, jobs=2, timeout=120) == 0
    for i, path in zip((1, 2), books):
        nb = nbformat.read(path, as_version=4)  # as MyST-NB reads it: no outputs
        record = get_cache(str(cache)).match_cache_notebook(nb)
        _, merged = get_cache(str(cache)).merge_match_into_notebook(nb)
        assert record.data["execution_seconds"] > 0
        assert merged.cells[0].outputs[0]["text"] == f"{i * 7}\n"
    assert execute_chapters.run(cache, books, jobs=2) == 0
    assert "every chapter is in the execution cache" in capsys.readouterr().out


def test_a_failing_chapter_fails_with_its_name_and_traceback(tmp_path, capsys) -> None:
    good = _notebook(tmp_path / "01_good.ipynb", "x = 1")
    bad = _notebook(tmp_path / "02_bad.ipynb", "raise RuntimeError('the chapter broke')")
    assert execute_chapters.run(tmp_path / "cache", [good, bad], jobs=2, timeout=120) == 1
    err = capsys.readouterr().err
    assert "the chapter broke" in err and "02_bad.ipynb failed" in err
    with pytest.raises(KeyError):  # nothing cached for the failing chapter
        get_cache(str(tmp_path / "cache")).match_cache_notebook(nbformat.read(bad, as_version=4))


def test_the_book_lists_its_chapters_for_execution() -> None:
    names = [p.name for p in execute_chapters.chapters()]
    assert names and all(n.endswith(".ipynb") for n in names) and names == sorted(names)
