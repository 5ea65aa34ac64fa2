"""Invalidate Jupyter Book's execution cache when the shared package changes.

Jupyter Book's cache hashes only a notebook's code cells, so an edit to code/
or requirements.txt would otherwise leave stale outputs. `make book` runs this
before building: it hashes code/ (sources and stand-in weights), requirements.txt
and the settings that change what a chapter prints (``resnetbook.settings``:
``Settings.execution_key``, e.g. RESNETBOOK_WEIGHTS, _MIRROR, _BF16, _DEVICE); when
the hash differs from the one stored in the cache folder, the cache is deleted. A
prose-only edit changes none of these.

Usage: python scripts/cache_key.py CACHE_DIR
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

from resnetbook import settings

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
KEY_FILE = ".resnetbook-key"


def tree_hash() -> str:
    """Hash of everything that can change what a chapter prints."""
    digest = hashlib.sha256()
    files = [ROOT / "requirements.txt"]
    for dirpath, dirnames, filenames in os.walk(ROOT / "code"):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith(".pyc")]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    # The edition (RESNETBOOK_EDITION) only changes rendering, not execution.
    digest.update(settings.current().execution_key().encode())
    return digest.hexdigest()


def main(cache_dir: Path) -> None:
    key = tree_hash()
    stored = cache_dir / KEY_FILE
    if stored.exists() and stored.read_text().strip() == key:
        print(f"cache_key: execution cache is current ({key[:12]})")
        return
    if cache_dir.exists():
        print(f"cache_key: code/, requirements or settings changed; clearing {cache_dir}")
        shutil.rmtree(cache_dir)
    cache_dir.mkdir(parents=True)
    stored.write_text(key + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
