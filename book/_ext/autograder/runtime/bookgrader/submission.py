"""What the autograder does before and around otter: a submission it cannot grade still gets results.

Used by ``run_grader.py`` outside the grading kernel (no torch, no otter imports). A submission
that is not one readable notebook, or a run that stops before otter writes its results (the
kernel died, the whole run passed its time limit), gets a ``results.json`` with every exercise's
test at zero and a message saying why, in Gradescope's format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IGNORED = {"__init__.py", "tests", "__pycache__"}


def problem(submission: Path, expected: str) -> str | None:
    """Why ``submission`` (a folder) holds no gradable notebook, or None when it does."""
    import nbformat

    files = sorted(p.name for p in submission.iterdir() if p.name not in IGNORED) if submission.is_dir() else []
    how = f"Submit your notebook, {expected} (in Colab: File -> Download -> Download .ipynb)."
    notebooks = [name for name in files if name.endswith(".ipynb")]
    if not notebooks:
        found = ", ".join(files) if files else "no file"
        return f"The submission holds {found}, and no Jupyter notebook (.ipynb). {how}"
    if len(notebooks) > 1:
        return f"The submission holds {len(notebooks)} notebooks ({', '.join(notebooks)}); submit only one. {how}"
    try:
        notebook = nbformat.read(submission / notebooks[0], as_version=4)
        nbformat.validate(notebook)
    except Exception as err:  # not JSON, not a notebook, a broken file: nbformat raises many kinds
        return f"{notebooks[0]} is not a readable Jupyter notebook ({type(err).__name__}: {str(err)[:200]}). {how}"
    return None


def zero_results(settings: dict[str, Any], message: str) -> dict[str, Any]:
    """Results in Gradescope's format: every exercise's test at 0 of its points, with ``message``."""
    tests = [{"name": exercise["name"], "score": 0, "max_score": exercise["points"], "visibility": "visible",
              "output": message, "status": "failed"} for exercise in settings["exercises"]]
    return {"score": 0, "output": message, "tests": tests}


def write(results: Path, content: dict[str, Any]) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(content, indent=4))


def readable(results: Path) -> bool:
    """Whether ``results`` is a results.json otter wrote with a test list."""
    try:
        return isinstance(json.loads(results.read_text()).get("tests"), list)
    except (OSError, ValueError, AttributeError):
        return False
