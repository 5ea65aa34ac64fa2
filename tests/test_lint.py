"""ruff over the repository (ruff.toml): no unused import or name, and no stale ``# noqa``.

ruff (pinned in requirements.txt) checks the package, the scripts, the tests, the build
tooling and the chapter notebooks. RUF100 makes a ``# noqa`` that silences nothing a finding,
so every one left names a real exception.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``ruff check`` with the project's ruff.toml, from this Python's packages, else from PATH."""
    local = Path(sysconfig.get_path("scripts")) / "ruff"
    found = str(local) if local.exists() else shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: it is in requirements.txt, so run `make setup` "
                    "(or `.venv/bin/pip install -r requirements.txt`)")
    return subprocess.run([found, "check", "--config", str(ROOT / "ruff.toml"), "--no-cache",
                           "--output-format", "concise", *args], cwd=cwd, capture_output=True, text=True)


def test_the_repository_passes_ruff():
    run = ruff(".")
    assert run.returncode == 0, f"ruff's findings (fix them, or say why in a `# noqa: CODE`):\n{run.stdout}{run.stderr}"


def test_ruff_finds_an_unused_import_and_a_stale_noqa(tmp_path):
    (tmp_path / "seeded.py").write_text("import os\nimport sys  # noqa: E402\n\nprint(sys.argv)\n")
    run = ruff("seeded.py", cwd=tmp_path)
    assert run.returncode == 1
    assert "seeded.py:1:8: F401" in run.stdout and "seeded.py:2:13: RUF100" in run.stdout
