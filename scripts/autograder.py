"""Gradescope autograder archives from the chapters (make autograder), with otter-grader.

    python scripts/autograder.py                    every chapter -> _build/autograder/
    python scripts/autograder.py --chapter 3 --out DIR

A chapter whose exercises are all answered in words (no student-check cell) gets no archive:
grade it by hand on Gradescope.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book" / "_ext"))  # the book's build tooling, as Sphinx loads it

import autograder  # noqa: E402
import editions  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", type=int, action="append", help="chapter number (default: every chapter)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "autograder", help="output folder")
    args = parser.parse_args(argv)
    chapters = editions.chapters(ROOT)
    wanted = args.chapter or range(1, len(chapters) + 1)
    for number in wanted:
        if not 1 <= number <= len(chapters):
            parser.error(f"there is no chapter {number} in _toc.yml (chapters 1-{len(chapters)})")
        archive = autograder.build(ROOT, chapters[number - 1], number, args.out)
        name = chapters[number - 1].relative_to(ROOT)
        print(f"wrote {archive}" if archive else f"{name}: no exercise graded by checks, no archive (grade it by hand)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
