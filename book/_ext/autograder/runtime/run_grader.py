"""Grade one submission in Gradescope's layout: ``python run_grader.py /autograder`` (run_autograder).

``<root>/submission`` holds what the student uploaded and ``<root>/results/results.json`` receives
the results. A submission that is one readable notebook is graded by otter-grader
(``otter.run.run_autograder``, with the tests and ``otter_config.json`` of ``<root>/source``), in a
child process with an overall time limit; anything else, or a run that ends without otter's
results, gets every exercise's test at zero with a message saying why (bookgrader.submission).

Before grading, the container's limits are read (bookgrader.limits): below what the chapter
was measured to need, nothing is graded and every test tells the instructor what to raise.
A grading kernel killed for memory is reported in every test's result, with what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder").resolve()
SOURCE = ROOT / "source"
sys.path.insert(0, str(SOURCE / "grader"))

from bookgrader import limits, submission  # noqa: E402

OTTER = "import sys; from otter.run.run_autograder import main; main(sys.argv[1])"
# nbformat's validation costs this process ~80 MB it would keep while grading: it runs in a child
PROBLEM = ("import sys; from pathlib import Path; from bookgrader import submission; "
           "print(submission.problem(Path(sys.argv[1]), sys.argv[2]) or '', end='')")
MARGIN_SECONDS = 45  # left of Gradescope's timeout to write results after otter is stopped
TESTS_SECONDS = 120  # left after the notebook's cells for the tests (the plugin stops cells past it)


def timeout_seconds(settings: dict) -> float:
    """Gradescope's timeout for this autograder: BOOKGRADER_TIMEOUT_SECONDS (raised by the instructor), else 600."""
    return float(os.environ.get("BOOKGRADER_TIMEOUT_SECONDS") or settings.get("timeout_seconds")
                 or limits.GRADESCOPE_DEFAULT["seconds"])


def run_otter(seconds: float) -> str | None:
    """Run otter in its own process group, stopped (kernel included) after ``seconds``; why it failed, or None."""
    process = subprocess.Popen([sys.executable, "-c", OTTER, str(ROOT)], start_new_session=True)
    try:
        code = process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return (f"grading took more than {seconds:.0f} s in all and was stopped. Students: run your notebook from top "
                "to bottom (Runtime -> Restart and run all) and check that every cell finishes; tag cells that run long "
                "experiments `otter_ignore`. Instructor: if complete notebooks are stopped too, raise the autograder's "
                "timeout and set BOOKGRADER_TIMEOUT_SECONDS to it in run_autograder")
    with contextlib.suppress(ProcessLookupError):  # a kernel that outlived otter
        os.killpg(process.pid, signal.SIGKILL)
    return None if code == 0 else f"the autograder stopped with exit status {code} before it wrote results (see its log)"


def report_killed(results: Path, settings: dict, message: str) -> None:
    """Every test's result says the kernel was killed for memory (otter's results, or zeros when there are none)."""
    if not submission.readable(results):
        submission.write(results, submission.zero_results(settings, message))
        return
    content = json.loads(results.read_text())
    for test in content["tests"]:
        test["output"] = f"{message}\n\n{test.get('output', '')}".strip()
    content["output"] = message
    submission.write(results, content)


def problem(settings: dict) -> str | None:
    """Why the submission cannot be graded (bookgrader.submission.problem, in a child process), or None."""
    done = subprocess.run([sys.executable, "-c", PROBLEM, str(ROOT / "submission"), settings["notebook"]],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE / "grader"), os.environ.get("PYTHONPATH", "")])})
    if done.returncode != 0:
        return f"the autograder could not read the submission: {done.stderr.strip().splitlines()[-1:]}"
    return done.stdout or None


def main() -> int:
    settings = json.loads((SOURCE / "grader" / "bookgrader" / "settings.json").read_text())
    results = ROOT / "results" / "results.json"
    results.unlink(missing_ok=True)
    if (why := problem(settings)) is not None:
        submission.write(results, submission.zero_results(settings, why))
        print(why)
        return 0
    container, timeout = limits.container(), timeout_seconds(settings)
    if (why := limits.shortfall(limits.needs(settings["chapter"]), container, timeout)) is not None:
        submission.write(results, submission.zero_results(settings, why))
        print(why)
        return 0
    metadata = ROOT / "submission_metadata.json"  # Gradescope writes it; otter's plugins read it
    if not metadata.exists():
        metadata.write_text("{}")
    kills = limits.oom_kills()
    os.environ["BOOKGRADER_CELLS_UNTIL"] = str(time.time() + timeout - MARGIN_SECONDS - TESTS_SECONDS)
    why = run_otter(timeout - MARGIN_SECONDS)
    if limits.oom_kills() > kills:
        report_killed(results, settings, limits.killed_message(container, limits.needs(settings["chapter"])))
        print("the grading kernel was killed for memory")
    elif not submission.readable(results):
        submission.write(results, submission.zero_results(settings, f"Not graded: {why}."))
        print(why)
    return 0


if __name__ == "__main__":
    sys.exit(main())
