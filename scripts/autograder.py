"""Gradescope autograder archives from the chapters (make autograder), with otter-grader.

    python scripts/autograder.py                    every chapter -> _build/autograder/
    python scripts/autograder.py --chapter 3 --out DIR

A chapter whose exercises are all answered in words (no student-check cell) gets no archive:
grade it by hand on Gradescope. In a book with tracks (``resnetbook_tracks`` in _config.yml),
a chapter that marks an exercise for some tracks gets one archive per track,
``<chapter>-<track>-autograder.zip``; the others keep one archive.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import autograder
import editions
import nbformat
from editions.tracks import book_tracks, chapter_tracks

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", type=int, action="append", help="chapter number (default: every chapter)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "autograder", help="output folder")
    args = parser.parse_args(argv)
    chapters, tracks = editions.chapters(ROOT), book_tracks(ROOT)
    wanted = args.chapter or range(1, len(chapters) + 1)
    for number in wanted:
        if not 1 <= number <= len(chapters):
            parser.error(f"there is no chapter {number} in _toc.yml (chapters 1-{len(chapters)})")
        source = chapters[number - 1]
        name = source.relative_to(ROOT)
        notebook = nbformat.read(source, as_version=4)
        for track in chapter_tracks(notebook, tracks, f"{name}: ") or (None,):
            archive = autograder.build(ROOT, source, number, args.out, track)
            whose = f" ({track} track)" if track else ""
            print(f"wrote {archive}: {totals(notebook, number, track)}" if archive else
                  f"{name}{whose}: no exercise graded by checks, no archive (grade it by hand)")
    return 0


def totals(notebook, number: int, track: str | None) -> str:
    """``8 points by its tests, 3 by hand (Exercise 5.3)``: what the archive grades and what it leaves."""
    tested = sum(e.points_in(track) for e in autograder.graded(notebook, number, track))
    hand = autograder.by_hand(notebook, number, track)
    manual = f", {sum(e.points_in(track) for e in hand)} by hand ({', '.join(e.name.split(':')[0] for e in hand)})"
    return f"{tested} points by its tests" + (manual if hand else "")


if __name__ == "__main__":
    sys.exit(main())
