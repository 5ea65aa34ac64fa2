"""scripts/execute_chapters.py: chapters executed in parallel land in the cache MyST-NB reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

from support import ROOT

# Importable by name (the worker processes unpickle its functions); appended, not first, so that
# scripts/autograder.py does not shadow the build tooling's autograder package in later tests.
sys.path.append(str(ROOT / "scripts"))
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


def test_the_longest_chapter_starts_first_and_gets_every_core_once_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cache = tmp_path / "cache"
    short = _notebook(tmp_path / "01_short.ipynb", "import torch\nprint(torch.get_num_threads())")
    # The long one waits until the parent has cached the short one (it sets the threads first).
    wait = (f"import time, nbformat\nfrom jupyter_cache import get_cache\n"
            f"for _ in range(600):\n"
            f"    try:\n"
            f"        get_cache({str(cache)!r}).match_cache_notebook(nbformat.read({str(short)!r}, as_version=4))\n"
            f"        break\n"
            f"    except KeyError:\n"
            f"        time.sleep(0.1)")
    long = _notebook(tmp_path / "02_long.ipynb", "import torch\nprint(torch.get_num_threads())", wait,
                     "print(torch.get_num_threads())")
    (tmp_path / execute_chapters.SECONDS_FILE).write_text('{"02_long": 100, "01_short": 1}')
    assert execute_chapters.by_cost([short, long], cache) == [long, short]
    assert execute_chapters.run(cache, [short, long], jobs=2, timeout=120, n_cores=2) == 0
    outputs = {}
    for path in (short, long):
        _, merged = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(path, as_version=4))
        outputs[path.stem] = [c.outputs[0]["text"] for c in merged.cells if c.outputs]
        assert [c.execution_count for c in merged.cells] == list(range(1, len(merged.cells) + 1))
    assert outputs == {"01_short": ["1\n"], "02_long": ["1\n", "2\n"]}  # two running, then alone
    seconds = json.loads((tmp_path / execute_chapters.SECONDS_FILE).read_text())
    assert seconds["01_short"] > 0 and seconds["02_long"] > seconds["01_short"]


def test_a_thread_count_the_caller_set_stands(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    book = _notebook(tmp_path / "01_ch.ipynb", "import torch\nprint(torch.get_num_threads())", "print(torch.get_num_threads())")
    assert execute_chapters.run(tmp_path / "cache", [book], jobs=2, timeout=120, n_cores=2) == 0
    _, merged = get_cache(str(tmp_path / "cache")).merge_match_into_notebook(nbformat.read(book, as_version=4))
    assert [c.outputs[0]["text"] for c in merged.cells] == ["1\n", "1\n"]


def test_unmeasured_chapters_are_ordered_by_the_estimates(tmp_path) -> None:
    paths = [tmp_path / f"{name}.ipynb" for name in ("01_architecture", "05_training", "06_shortcuts_transfer")]
    assert execute_chapters.by_cost(paths, tmp_path / "cache")[0].stem == max(
        execute_chapters.ESTIMATED_SECONDS, key=execute_chapters.ESTIMATED_SECONDS.get)
    assert execute_chapters.by_cost(paths, tmp_path / "cache")[-1].stem == "01_architecture"


def test_the_book_lists_its_chapters_for_execution() -> None:
    names = [p.name for p in execute_chapters.chapters()]
    assert names and all(n.endswith(".ipynb") for n in names) and names == sorted(names)
