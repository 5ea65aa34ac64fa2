"""Execute the chapter notebooks in place, so they carry the reference outputs nbval checks.

`make test` runs the chapters with nbval, which re-executes every code cell and
compares its output with the output stored in the notebook (cells tagged
``nbval-ignore-output`` are run but not compared; nbval_sanitize.cfg removes
addresses, timings, progress bars). This script stores those reference outputs:

    python scripts/refresh_outputs.py [book/03_batchnorm.ipynb ...]   (make outputs)

Each notebook runs top to bottom with nbclient in its own folder (as the book
build and nbval run it), keeps its cell ids, and is written back only when every
cell succeeded. To keep the repository small, figure payloads are not stored:
``image/png`` and ``image/jpeg`` (which nbval does not compare) are dropped, and
figures stored with MyST-NB ``glue`` keep only a short marker that the sanitizer
maps to the same token as any image. The text outputs stay.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import notebook_conventions
from nbclient import NotebookClient
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parent.parent

# No progress bars in stored outputs (as in the book build; tqdm reads TQDM_* variables).
os.environ.setdefault("TQDM_DISABLE", "1")

DROPPED = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}
# nbval compares these (only the plain image types are skipped by nbval), so they
# keep a marker that nbval_sanitize.cfg rewrites like any PNG/JPEG base64 payload.
MARKED = re.compile(r".+/image/(?:png|jpeg)$")
IMAGE_MARKER = {"png": "iVBORw0KGgo=\n", "jpeg": "/9j/\n"}


def chapters() -> list[Path]:
    """The chapter notebooks listed in ``_toc.yml`` (the student editions are not executed)."""
    return notebook_conventions.chapters(ROOT)


def strip_payloads(notebook: NotebookNode) -> NotebookNode:
    """Drop figure payloads from the outputs (in place); text outputs stay."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for key in list(data):
                if key in DROPPED:
                    del data[key]
                    output.get("metadata", {}).pop(key, None)
                elif MARKED.match(key):
                    data[key] = IMAGE_MARKER[key.rsplit("/", 1)[1]]
    notebook.metadata.pop("widgets", None)
    return notebook


def execute(path: Path, timeout: int | None = None) -> NotebookNode:
    """Run ``path`` top to bottom in its folder; raises on the first failing cell.

    ``timeout``: seconds per cell (default: the book build's, ``_config.yml``)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout or notebook_conventions.CELL_TIMEOUT,
        kernel_name=notebook.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no per-cell timestamps in the committed files
    )
    client.execute()
    return notebook


def refresh(path: Path) -> float:
    """Execute ``path``, strip payloads and write it back; returns the seconds it took.

    Refuses to write when the file was edited while it ran (the edit would be lost).
    """
    start = time.perf_counter()
    before = path.read_bytes()
    notebook = strip_payloads(execute(path))
    nbformat.validate(notebook)
    if path.read_bytes() != before:
        raise SystemExit(f"{path} was edited while it ran; run `make outputs` again")
    nbformat.write(notebook, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter in _toc.yml")
    args = parser.parse_args(argv)
    for path in args.notebooks or chapters():
        if path.suffix != ".ipynb" or not path.is_file():
            parser.error(f"not a notebook: {path}")
        print(f"executing {path} ...", flush=True)
        print(f"  stored reference outputs in {refresh(path.resolve()):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
