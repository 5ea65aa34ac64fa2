"""The otter plugin of the book's archives (``otter_config.json``: ``bookgrader.plugin.BookPlugin``).

Only otter's own process imports this module: the package ``bookgrader`` imports no otter, so
that run_grader.py (which waits for otter) and the grading kernel (until otter runs the tests)
do not hold otter and pandas in memory (about 60 MB each in Gradescope's 768 MB).
"""

from __future__ import annotations

from typing import Any

from otter.plugins import AbstractOtterPlugin


class BookPlugin(AbstractOtterPlugin):
    """The submission runs between ``bookgrader.begin()`` and ``bookgrader.end()`` (see bookgrader)."""

    def before_execution(self, submission: Any) -> Any:
        import nbformat

        if isinstance(submission, str):  # a script: otter wraps it in one cell later
            return submission
        submission.cells.insert(0, nbformat.v4.new_code_cell("import bookgrader\nbookgrader.begin()"))
        submission.cells.append(nbformat.v4.new_code_cell("import bookgrader\nbookgrader.end()"))
        return submission
