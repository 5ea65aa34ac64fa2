"""The book's notebook conventions, read in one place.

Everything that reads how the book's files are laid out imports this module: the
editions (:mod:`editions`), the autograder (:mod:`autograder`), the scripts in
``scripts/`` and the tests.

- the cell timeout: ``execute: timeout`` in ``_config.yml`` (:data:`CELL_TIMEOUT`);
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- _config.yml


def execute_config(root: Path = ROOT) -> dict:
    """``_config.yml``'s ``execute`` section: how the book build executes the chapters."""
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")).get("execute", {})


def cell_timeout(root: Path = ROOT) -> int:
    """Seconds a chapter's cell may run (``execute: timeout`` in ``_config.yml``)."""
    timeout = execute_config(root).get("timeout")
    if not isinstance(timeout, int) or timeout <= 0:
        raise ValueError(f"{root / '_config.yml'}: execute: timeout must be a positive number of seconds, not {timeout!r}")
    return timeout


CELL_TIMEOUT = cell_timeout()  # the book build's, which every other executor of the chapters uses
