"""Root pytest configuration: two processes share the cores, the longest tests start first, and
nbval runs notebook cells as the book build does.

``make test`` runs the suite in two pytest-xdist workers (pytest.ini). Each worker, the kernels
it starts and its subprocesses use one OpenMP thread: two processes with two threads each on
two cores oversubscribe them (scripts/execute_chapters.py measured a chapter 11 times slower).
Tests marked ``slow`` (a chapter executed again, a Gradescope container, the Colab install) are
collected first, longest first, by the seconds they took in two workers on a 2-core Xeon without
AMX (2026-12-03); the estimates only order the tests.

nbval 0.11 executes cells with ``store_history=False``, and IPython decides whether a
trailing ``;`` silences a cell's result from the history, so under nbval
``ax.set_title(...);`` prints ``Text(...)`` although the book build (and Jupyter)
prints nothing, and nbval reports an output the stored notebook does not have
(nbval issue #194). Executing with history restores Jupyter's behaviour.
tests/test_notebooks.py::test_nbval_fails_a_changed_fact_and_passes_legit_variance guards it.
"""

from __future__ import annotations

import os

from nbval.kernel import RunningKernel

# Kernels that nbval starts inherit this: no progress bars, as in the book build
# and the stored outputs (the Makefile sets it too; this covers a plain `pytest`).
os.environ.setdefault("TQDM_DISABLE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # set before the tests import torch
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def seconds(item) -> float:
    """What a test marked ``slow(seconds=...)`` took when last measured (0: not marked). ``seconds``
    is a number, or a dict by parameter id with ``default`` for the others."""
    marker = item.get_closest_marker("slow")
    if marker is None:
        return 0.0
    estimate = marker.kwargs.get("seconds", 60)
    if isinstance(estimate, dict):
        callspec = getattr(item, "callspec", None)
        return estimate.get(callspec.id if callspec else "", marker.kwargs.get("default", 60))
    return estimate


def pytest_collection_modifyitems(config, items) -> None:
    """The longest tests first (equal ones in their order): xdist hands tests out from the front,
    so the last to finish is a short one, and neither worker waits long for the other."""
    items.sort(key=seconds, reverse=True)


def _execute_with_history(self: RunningKernel, cell_input: str, allow_stdin=None) -> str:
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)


RunningKernel.execute_cell_input = _execute_with_history
