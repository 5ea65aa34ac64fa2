"""Run an autograder archive as Gradescope runs it, in a container limited like Gradescope's default.

Gradescope gives an autograder 1/2 vCPU, 768 MB and 10 minutes unless the instructor raises
them. :func:`grade` lays out a scratch folder as Gradescope's (``source/`` the unzipped
archive, ``submission/``, ``results/``) and runs the archive's ``run_autograder`` there. With
``limits``, where this process may make cgroups (root, cgroup v1 or v2), the run gets its own
cgroup with that memory limit and CPU quota; elsewhere it runs unlimited and :class:`Run`
gives the CPU seconds and the peak memory to scale.

Used by tests/test_autograder.py and by ``python tests/gradescope_container.py ARCHIVE NOTEBOOK``
(the README's table of grading times and memory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "book" / "_ext" / "autograder" / "runtime"))
from bookgrader.limits import _own

V1, V2 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")
GRADESCOPE = {"memory_mb": 768, "cpus": 0.5, "seconds": 600}  # Gradescope's documented defaults


@dataclass
class Run:
    """What one grading run gave: its results and what it used."""

    results: dict
    wall_s: float
    cpu_s: float  # user + system time of the whole run (every process)
    peak_mb: float  # peak resident memory of the run (anonymous; cgroup), or of its largest moment (sampled)
    limited: bool  # whether the run had cgroup limits
    killed: bool = False  # the cgroup's OOM killer ran
    log: str = ""
    extra: dict = field(default_factory=dict)

    def at_half_cpu_s(self) -> float:
        """The wall time this run would take at 1/2 vCPU: as measured when limited, else CPU seconds x 2."""
        return self.wall_s if self.limited else max(self.wall_s, self.cpu_s / GRADESCOPE["cpus"])


class _Cgroup:
    """A cgroup (v1 memory+cpu controllers, or v2) with a memory limit and a CPU quota."""

    def __init__(self, memory_mb: int, cpus: float) -> None:
        name = f"gradescope-{uuid.uuid4().hex[:8]}"
        self.v2 = not V1.is_dir()
        quota, period = int(cpus * 100_000), 100_000
        if self.v2:  # a child of this process's own cgroup: what holds it keeps accounting for it
            self.paths = [_own("") / name]
            self.paths[0].mkdir()
            (self.paths[0] / "memory.max").write_text(str(memory_mb << 20))
            (self.paths[0] / "memory.swap.max").write_text("0")
            (self.paths[0] / "cpu.max").write_text(f"{quota} {period}")
        else:
            self.paths = [_own("memory") / name, _own("cpu") / name]
            for path in self.paths:
                path.mkdir()
            (self.paths[0] / "memory.limit_in_bytes").write_text(str(memory_mb << 20))
            swap = self.paths[0] / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory_mb << 20))
            (self.paths[1] / "cpu.cfs_period_us").write_text(str(period))
            (self.paths[1] / "cpu.cfs_quota_us").write_text(str(quota))

    def enter(self) -> None:
        """Move the calling process into the cgroup (run in the child before exec)."""
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def anon_mb(self) -> float:
        """Memory the run holds that the kernel cannot drop (anonymous pages), now."""
        stat = (self.paths[0] / "memory.stat").read_text().split()
        values = dict(zip(stat[::2], stat[1::2]))
        return int(values["anon" if self.v2 else "total_rss"]) / 2**20

    def oom_killed(self) -> bool:
        if self.v2:
            events = (self.paths[0] / "memory.events").read_text().split()
            return int(dict(zip(events[::2], events[1::2])).get("oom_kill", 0)) > 0
        control = (self.paths[0] / "memory.oom_control").read_text().split()
        return int(dict(zip(control[::2], control[1::2])).get("oom_kill", 0)) > 0

    def remove(self) -> None:
        for path in self.paths:
            for _ in range(50):  # the last processes may take a moment to leave
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def can_limit() -> bool:
    """Whether this process may make cgroups with memory and CPU limits."""
    if V1.is_dir():
        return os.access(_own("memory"), os.W_OK) and os.access(_own("cpu"), os.W_OK)
    controllers = V2 / "cgroup.subtree_control"
    return controllers.exists() and os.access(_own(""), os.W_OK) and {"memory", "cpu"} <= set(controllers.read_text().split())


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (for runs without a cgroup)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def layout(archive: Path, scratch: Path, files: dict[str, bytes]) -> None:
    """Gradescope's folders under ``scratch``: the unzipped archive, the submission, results."""
    for folder in ("source", "submission", "results"):
        (scratch / folder).mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(scratch / "source")
    (scratch / "run_autograder").write_bytes((scratch / "source" / "run_autograder").read_bytes())
    for name, data in files.items():
        (scratch / "submission" / name).write_bytes(data)


def grade(archive: Path, scratch: Path, files: dict[str, bytes], env: dict[str, str] | None = None,
          limits: dict | None = None, timeout: float = 1200) -> Run:
    """Run ``archive`` on the submission ``files`` in Gradescope's layout under ``scratch``.

    ``limits`` (``memory_mb``, ``cpus``) puts the run in a cgroup with those limits, where
    :func:`can_limit`; otherwise it runs unlimited and the returned :class:`Run` is to be scaled.
    """
    layout(archive, scratch, files)
    return run(scratch, env, limits, timeout)


def run(scratch: Path, env: dict[str, str] | None = None, limits: dict | None = None, timeout: float = 1200) -> Run:
    """Run the archive laid out under ``scratch`` (:func:`layout`); see :func:`grade`."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = str(scratch / "source" / "package")  # setup.sh would install it
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.environ['PATH'])}"
    cgroup = _Cgroup(limits["memory_mb"], limits["cpus"]) if limits and can_limit() else None
    peak, done = [0.0], threading.Event()
    before = os.times()
    start = time.perf_counter()
    try:
        process = subprocess.Popen(["bash", str(scratch / "run_autograder")], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   preexec_fn=cgroup.enter if cgroup else None)

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], cgroup.anon_mb() if cgroup else _rss_mb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            log, _ = process.communicate(timeout=timeout)
        finally:
            done.set()
            sampler.join()
            if process.poll() is None:
                process.kill()
        wall = time.perf_counter() - start
        after = os.times()
        killed = cgroup.oom_killed() if cgroup else False
    finally:
        if cgroup:
            cgroup.remove()
    if process.returncode != 0:
        raise RuntimeError(f"run_autograder exited with {process.returncode}:\n{log[-3000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    results = json.loads((scratch / "results" / "results.json").read_text())
    return Run(results, wall, cpu, peak[0], cgroup is not None, killed, log)


# Besides its anonymous memory, a run needs the pages of the libraries' code it keeps using in
# memory: measured here, runs with a peak above about 715 MB of anonymous memory were killed at 768.
RESIDENT_MB = 64
NEEDS = Path(__file__).resolve().parent.parent / "book" / "_ext" / "autograder" / "runtime" / "bookgrader" / "needs.json"


def main(argv: list[str]) -> int:
    """Grade a notebook with an archive at 1/2 vCPU (``--memory``: 768 MB); print the run, ``--record`` it in needs.json.

    Record a chapter that fits at the default memory (its time only), or one measured with more
    memory after it was killed at 768 MB (its time, and its peak plus RESIDENT_MB).
    """
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("archive", type=Path)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--memory", type=int, default=GRADESCOPE["memory_mb"], help="the container's memory, MB")
    parser.add_argument("--scratch", type=Path, help="where to lay out Gradescope's folders (default: a temp folder)")
    parser.add_argument("--record", metavar="CHAPTER", help="write what the run needed into needs.json (e.g. ch2)")
    args = parser.parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="gradescope-"))
    run = grade(args.archive, scratch / "run", {args.notebook.name: args.notebook.read_bytes()},
                limits={"memory_mb": args.memory, "cpus": GRADESCOPE["cpus"]})
    score = sum(t.get("score", 0) for t in run.results["tests"])
    total = sum(t.get("max_score", 0) for t in run.results["tests"])
    print(json.dumps({"archive": args.archive.name, "limited": run.limited, "memory_mb": args.memory,
                      "wall_s": round(run.wall_s, 1), "at_half_cpu_s": round(run.at_half_cpu_s(), 1),
                      "peak_mb": round(run.peak_mb), "oom_killed": run.killed, "score": f"{score:g} / {total:g}"}))
    if args.record:
        if run.killed or score < total:
            raise SystemExit("not recorded: a complete submission did not get full marks in this run")
        needs = json.loads(NEEDS.read_text()) if NEEDS.exists() else {}
        needs[args.record] = {"cpus": GRADESCOPE["cpus"], "seconds": round(run.at_half_cpu_s())}
        if args.memory > GRADESCOPE["memory_mb"]:  # measured above the default: it did not fit there
            needs[args.record]["memory_mb"] = round(run.peak_mb) + RESIDENT_MB
        NEEDS.write_text(json.dumps(dict(sorted(needs.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
