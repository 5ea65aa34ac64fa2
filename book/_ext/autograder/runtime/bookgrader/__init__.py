"""The book's grading helpers, inside a Gradescope autograder archive (book/_ext/autograder).

Otter-grader runs the submitted notebook in a kernel and then the test files of ``tests/``
(one per exercise, written by ``make autograder``) in the same kernel. Those tests call:

- :func:`public`: the check the student notebook shows (``check.bn_equation(bn_equation)``);
- :func:`hidden`: more cases of the same kind, against reference values stored in the archive;
- :func:`untouched`: whether the notebook left the book's files alone.

:class:`bookgrader.plugin.BookPlugin` (an otter plugin, listed in ``otter_config.json``) wraps the submission in
two cells: :func:`begin` before the student's first cell (loads what grading needs into memory,
records the book's files, starts the per-cell time limit) and :func:`end` after the last
(stops it, puts back test files the notebook deleted or changed). Each call of a student's
function during a test has its own time limit, so a loop that never ends costs that test only.

This module imports no otter (its plugin class is in :mod:`bookgrader.plugin`): run_grader.py, which
waits for otter, imports it too, and otter with pandas would cost it about 60 MB for nothing.

Grading fits Gradescope's default container (1/2 vCPU, 768 MB, 10 minutes): one thread, memory
handed back to the system after the notebook and after each hidden case, cells stopped once the
notebook's share of the time is spent (``BOOKGRADER_CELLS_UNTIL``, set by run_grader.py), and,
for a chapter whose spec sets ``DATASET_SIZES``, a smaller FashionMNIST: no graded test uses it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import importlib
import io
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SETTINGS: dict[str, Any] = json.loads((HERE / "settings.json").read_text()) if (HERE / "settings.json").exists() else {}
_STATE: dict[str, Any] = {}


def _seconds(kind: str) -> float:
    """The time limit ``kind`` ("cell" or "test"): BOOKGRADER_<KIND>_SECONDS, else the archive's setting."""
    return float(os.environ.get(f"BOOKGRADER_{kind.upper()}_SECONDS") or SETTINGS.get(f"{kind}_seconds", 600))


class GradingFailed(AssertionError):
    """A test of a submission failed; the message is what the student reads on Gradescope."""


class TimeLimit(Exception):
    """Code ran past its time limit (a cell of the notebook, or a student's function in a test)."""


@contextlib.contextmanager
def time_limit(seconds: float, message: str) -> Iterator[None]:
    """Raise :class:`TimeLimit` (``message``) in the code of the ``with`` block after ``seconds``."""

    def alarm(signum: int, frame: Any) -> None:
        raise TimeLimit(message)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- around the submission


def _book_files() -> dict[str, str]:
    """sha256 of every file grading relies on: the book's package, these helpers, the tests."""
    import resnetbook

    roots = [Path(resnetbook.__file__).resolve().parent, HERE, Path("tests").resolve()]
    return {p.relative_to(root.parent).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots if root.is_dir() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def release_memory() -> None:
    """Collect garbage and hand freed heap memory back to the system (glibc keeps it otherwise)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _arm(*args: Any) -> None:
    seconds = _seconds("cell")
    left = float(os.environ.get("BOOKGRADER_CELLS_UNTIL") or "inf") - time.time()
    if left < seconds:
        message = ("the notebook's cells used up their share of the grading time and this cell was stopped; the "
                   "tests ran on what the cells before it defined. Tag cells that run long experiments `otter_ignore`")
        seconds = max(left, 1.0)  # a quick cell (an import, a def) still runs: later cells may need it
    else:
        message = (f"this cell ran for more than {seconds:g} s and was stopped by the autograder "
                   "(a loop that never ends?); grading went on with the next cell")

    def alarm(signum: int, frame: Any) -> None:
        raise TimeLimit(message)

    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _disarm(*args: Any) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


def _smaller_datasets(sizes: tuple[int, int]) -> None:
    """``data.load_fashion_mnist()`` gives the first ``sizes`` training and test images while grading.

    The chapters that load FashionMNIST hold it as floats (about 220 MB); their graded functions
    are tested on the hidden cases, not on the dataset, so the cells that still run get a slice.
    """
    from resnetbook import data

    full_load = data.load_fashion_mnist

    def load_fashion_mnist(*args: Any, **kwargs: Any) -> Any:
        full = full_load(*args, **kwargs)
        n_train, n_test = sizes
        small = data.FashionMNIST(full.train_images[:n_train].clone(), full.train_labels[:n_train].clone(),
                                  full.test_images[:n_test].clone(), full.test_labels[:n_test].clone(), full.classes)
        data.clear_cache()  # the full tensors go
        return small

    data.load_fashion_mnist = load_fashion_mnist


def begin() -> None:
    """Before the student's first cell: load what grading needs, record the files, start cell limits."""
    import torch

    torch.set_num_threads(1)  # 1/2 vCPU: more threads only wait for each other
    _STATE["check"] = importlib.import_module("resnetbook.check")
    _STATE["CheckFailed"] = _STATE["check"].CheckFailed
    spec = importlib.import_module(f"bookgrader.chapters.{SETTINGS['chapter']}")
    _STATE["cases"] = spec.CASES
    if getattr(spec, "DATASET_SIZES", None):
        _smaller_datasets(spec.DATASET_SIZES)
    _STATE["reference"] = torch.load(HERE / "reference.pt", weights_only=True)
    _STATE["tests"] = {p.resolve(): p.read_bytes() for p in Path("tests").glob("*.py")}
    _STATE["files"] = _book_files()
    ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821  (this runs in the kernel)
    ip.events.register("pre_run_cell", _arm)
    ip.events.register("post_run_cell", _disarm)


def end() -> None:
    """After the student's last cell: stop cell limits, put back the tests, note changed files."""
    ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    for event, fn in (("pre_run_cell", _arm), ("post_run_cell", _disarm)):
        with contextlib.suppress(ValueError):
            ip.events.unregister(event, fn)
    _disarm()
    release_memory()
    before, after = _STATE.get("files", {}), _book_files()
    _STATE["changed"] = sorted(p for p in before if after.get(p) != before[p])
    for path, content in _STATE.get("tests", {}).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
    Path("../results").mkdir(exist_ok=True)  # otter writes results.json there


# ---------------------------------------------------------------- the tests


def _student(env: dict, name: str) -> Callable:
    fn = env.get(name)
    if fn is None:
        raise GradingFailed(f"`{name}` is not defined in the notebook: keep the cell that defines it, with its "
                            "name and signature, and check that the notebook runs from top to bottom")
    if not callable(fn):
        raise GradingFailed(f"`{name}` is a {type(fn).__name__}, not a function: keep the `def {name}(...)` cell")
    return fn


def _stub(name: str) -> GradingFailed:
    return GradingFailed(f"`{name}` is not written yet: its body still raises NotImplementedError. Replace "
                         "`# YOUR CODE HERE` and `raise NotImplementedError()` with your code")


def _too_long(what: str) -> str:
    return (f"{what} did not finish within {_seconds('test'):g} s and was stopped: look for a loop that never "
            "ends (a `while` whose condition stays true)")


def public(env: dict, check_name: str, fn_name: str) -> None:
    """Run ``resnetbook.check.<check_name>`` on the notebook's ``fn_name``: the check the notebook shows."""
    fn = _student(env, fn_name)
    check = getattr(_STATE.get("check") or importlib.import_module("resnetbook.check"), check_name)
    failed = _STATE.get("CheckFailed") or importlib.import_module("resnetbook.check").CheckFailed
    call = f"check.{check_name}({fn_name})"
    try:
        with time_limit(_seconds("test"), _too_long(call)), contextlib.redirect_stdout(io.StringIO()):
            check(fn)
    except NotImplementedError:
        raise _stub(fn_name) from None
    except TimeLimit as err:
        raise GradingFailed(str(err)) from None
    except failed as err:
        raise GradingFailed(str(err)) from None
    except Exception as err:  # the student's code may raise anything
        raise GradingFailed(f"{call} raised {type(err).__name__}: {err}") from None
    finally:
        release_memory()


def hidden(env: dict, fn_name: str) -> None:
    """Run the notebook's ``fn_name`` on its hidden cases and compare with the reference values."""
    from bookgrader.cases import difference

    fn = _student(env, fn_name)
    cases, wanted = _STATE["cases"][fn_name], _STATE["reference"][fn_name]
    for number, (case, want) in enumerate(zip(cases, wanted), start=1):
        where = f"`{fn_name}` on hidden case {number} of {len(cases)} ({case.what})"
        args = case.args()
        try:
            with time_limit(_seconds("test"), _too_long(where)), contextlib.redirect_stdout(io.StringIO()):
                got = case.probe(fn(*args), args)
        except NotImplementedError:
            raise _stub(fn_name) from None
        except TimeLimit as err:
            raise GradingFailed(str(err)) from None
        except Exception as err:  # the student's code may raise anything
            raise GradingFailed(f"{where} raised {type(err).__name__}: {err}") from None
        del args
        release_memory()  # hidden cases build networks: the next test starts from what the notebook holds
        if (problem := difference(got, want)) is not None:
            raise GradingFailed(f"{where}: {problem}. The public check covers fewer cases: try your function "
                                "on other shapes and values, and compare it with what the exercise asks")


def untouched() -> None:
    """Fail when the notebook changed or deleted the book's files (grading used the originals)."""
    if "files" not in _STATE:
        raise GradingFailed("the grading setup did not run before the notebook (see the autograder's log)")
    if _STATE.get("changed"):
        raise GradingFailed(
            "the notebook changed or deleted files of the book or of the autograder: "
            f"{', '.join(_STATE['changed'])}. Grading used the original files; remove the code that writes "
            "to or deletes them")
