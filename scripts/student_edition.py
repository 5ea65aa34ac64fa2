"""Student notebooks and the student release, from the chapters (book/_ext/editions).

    python scripts/student_edition.py            write book/student/*.ipynb     (make student)
    python scripts/student_edition.py --check    list student notebooks out of sync
    python scripts/student_edition.py --release DEST --repo OWNER/NAME          (make student-release)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import editions
from editions.release import write_release

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of sync")
    parser.add_argument("--release", type=Path, metavar="DEST", help="write a student release into DEST")
    parser.add_argument("--repo", help="the release's GitHub repository, owner/name (with --release)")
    parser.add_argument("--branch", default="main", help="its branch (default: main)")
    args = parser.parse_args(argv)
    if args.release:
        if not args.repo:
            parser.error("--release needs --repo OWNER/NAME: the repository students will open in Colab")
        for path in write_release(ROOT, args.release, args.repo, args.branch):
            print(f"wrote {path}")
        return 0
    if args.check:
        problems = editions.out_of_sync(ROOT)
        for problem in problems:
            print(f"out of sync: {problem}  (run `make student`)")
        return 1 if problems else 0
    for path in editions.write_all(ROOT):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
