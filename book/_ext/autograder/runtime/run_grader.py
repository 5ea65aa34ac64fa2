"""Grade one submission in Gradescope's layout: ``python run_grader.py /autograder`` (run_autograder).

``<root>/submission`` holds what the student uploaded and ``<root>/results/results.json`` receives
the results. A submission that is one readable notebook is graded by otter-grader
(``otter.run.run_autograder``, with the tests and ``otter_config.json`` of ``<root>/source``), in a
child process with an overall time limit; anything else, or a run that ends without otter's
results, gets every exercise's test at zero with a message saying why (bookgrader.submission).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder").resolve()
SOURCE = ROOT / "source"
sys.path.insert(0, str(SOURCE / "grader"))

from bookgrader import submission  # noqa: E402

OTTER = "import sys; from otter.run.run_autograder import main; main(sys.argv[1])"


def main() -> int:
    settings = json.loads((SOURCE / "grader" / "bookgrader" / "settings.json").read_text())
    results = ROOT / "results" / "results.json"
    results.unlink(missing_ok=True)
    if (why := submission.problem(ROOT / "submission", settings["notebook"])) is not None:
        submission.write(results, submission.zero_results(settings, why))
        print(why)
        return 0
    metadata = ROOT / "submission_metadata.json"  # Gradescope writes it; otter's plugins read it
    if not metadata.exists():
        metadata.write_text("{}")
    try:
        done = subprocess.run([sys.executable, "-c", OTTER, str(ROOT)], timeout=settings["total_seconds"])
        why = f"the autograder stopped with exit status {done.returncode} before it wrote results (see its log)"
    except subprocess.TimeoutExpired:
        why = (f"grading took more than {settings['total_seconds']} s in all and was stopped. Run your notebook "
               "from top to bottom (Runtime -> Restart and run all) and check that every cell finishes")
    if not submission.readable(results):
        submission.write(results, submission.zero_results(settings, f"Not graded: {why}."))
        print(why)
    return 0


if __name__ == "__main__":
    sys.exit(main())
