"""Root pytest configuration: makes nbval run notebook cells as the book build does.

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


def _execute_with_history(self: RunningKernel, cell_input: str, allow_stdin=None) -> str:
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)


RunningKernel.execute_cell_input = _execute_with_history
