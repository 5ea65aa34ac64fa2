"""The container's limits, against what a chapter's grading was measured to need.

Gradescope runs an autograder in a container with 1/2 vCPU, 768 MB and a 10-minute timeout
unless the instructor raises them (Autograder settings). ``run_grader.py`` reads the limits
the container really has (cgroup v2 or v1: memory limit, CPU quota) before it grades; below
what ``needs.json`` says the chapter needs, it grades nothing and tells the instructor which
setting to raise and to what. After a run it asks whether the kernel was killed for memory.
No torch and no otter here: this runs outside the grading kernel.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CGROUP = Path("/sys/fs/cgroup")
GRADESCOPE_DEFAULT = {"memory_mb": 768, "cpus": 0.5, "seconds": 600}
UNLIMITED = 1 << 50


@dataclass(frozen=True)
class Limits:
    """What the container allows: memory (MB) and CPUs (a fraction of one or more), None when unlimited."""

    memory_mb: float | None
    cpus: float | None


def _own(controller: str, root: Path = CGROUP) -> Path:
    """The folder of this process's cgroup for ``controller`` ("" for v2), from /proc/self/cgroup.

    Inside a container the cgroup is usually mounted at the root itself; on a host (the book's
    tests) it is the path /proc/self/cgroup names under the controller's mount.
    """
    base = root / controller if controller else root
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return base
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller in names.split(",") if controller else names == "") and (base / path.lstrip("/")).is_dir():
            return base / path.lstrip("/")
    return base


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def container(root: Path = CGROUP) -> Limits:
    """The memory limit and CPU quota of the cgroup this process runs in (v2, else v1)."""
    memory, cpus = None, None
    if not (root / "memory").is_dir():  # cgroup v2
        own = _own("", root)
        max_ = _read(own / "memory.max") or "max"
        memory = None if max_ == "max" else int(max_) / 2**20
        quota = (_read(own / "cpu.max") or "max").split()
        cpus = None if quota[0] == "max" else int(quota[0]) / int(quota[1])
        return Limits(memory, cpus)
    if (limit := _read(_own("memory", root) / "memory.limit_in_bytes")) is not None and int(limit) < UNLIMITED:
        memory = int(limit) / 2**20
    cpu = _own("cpu", root)
    quota, period = _read(cpu / "cpu.cfs_quota_us"), _read(cpu / "cpu.cfs_period_us")
    if quota is not None and period is not None and int(quota) > 0:
        cpus = int(quota) / int(period)
    return Limits(memory, cpus)


def oom_kills(root: Path = CGROUP) -> int:
    """How many processes the container's cgroup has had killed for memory so far (0 when unknown)."""
    v1 = (root / "memory").is_dir()
    path = _own("memory", root) / "memory.oom_control" if v1 else _own("", root) / "memory.events"
    if (text := _read(path)) is not None:
        words = text.split()
        return int(dict(zip(words[::2], words[1::2])).get("oom_kill", 0))
    return 0


def needs(chapter: str) -> dict:
    """What grading a complete submission of ``chapter`` was measured to need (needs.json), or {}."""
    path = HERE / "needs.json"
    return json.loads(path.read_text()).get(chapter, {}) if path.exists() else {}


def seconds_at(need: dict, cpus: float | None) -> float:
    """The wall time ``need`` (measured at its ``cpus``) takes with ``cpus`` CPUs (None: one or more)."""
    return need["seconds"] * need["cpus"] / min(cpus or 1.0, 1.0)  # grading runs one thread: more CPUs do not help


def shortfall(need: dict, limits: Limits, timeout_s: float) -> str | None:
    """What the instructor must raise for this chapter, in words; None when the container suffices."""
    if not need:
        return None
    asks = []
    memory = math.ceil(need.get("memory_mb", 0) / 256) * 256  # Gradescope offers memory in steps
    if limits.memory_mb is not None and limits.memory_mb < need.get("memory_mb", 0):
        asks.append(f"memory to {memory / 1024:g} GB or more (this container has {limits.memory_mb:.0f} MB; "
                    f"grading this chapter was measured to need {need['memory_mb']:.0f} MB)")
    if seconds_at(need, limits.cpus) > timeout_s:
        cpus = limits.cpus or 1.0
        wanted = need["seconds"] * need["cpus"] / timeout_s
        asks.append(f"CPUs to {max(1, math.ceil(wanted * 2) / 2):g} or more (this container has {cpus:g}; grading "
                    f"needs about {seconds_at(need, limits.cpus):.0f} s with it, over the {timeout_s:.0f} s budget), or "
                    f"the timeout to {math.ceil(seconds_at(need, limits.cpus) / 60 * 1.5)} minutes")
    if not asks:
        return None
    return ("Not graded: this autograder's container is too small for this chapter. Instructor: in Gradescope, "
            "in the assignment's autograder settings, raise the " + "; and the ".join(asks) +
            ", then regrade all submissions. Students: your submission was not graded yet; nothing to do.")


def killed_message(limits: Limits, need: dict | None = None) -> str:
    """What every test says when the grading kernel was killed for memory."""
    size = f"{limits.memory_mb:.0f} MB" if limits.memory_mb else "its memory limit"
    measured = (f" (a complete submission of this chapter was measured to need {need['memory_mb']:.0f} MB)"
                if need and need.get("memory_mb") else "")
    return ("Not graded: the grading kernel was killed for running out of memory (the container has "
            f"{size}). Instructor: raise the memory in the assignment's autograder settings on Gradescope to the next "
            f"step up{measured} and regrade. Students: if your notebook keeps many large tensors or models (for "
            "example one per experiment), delete those you no longer need (`del name`) and submit again.")
