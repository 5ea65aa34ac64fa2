"""Execute the chapters that the execution cache lacks, two at a time, before the book build.

Jupyter Book executes notebooks one after another while it reads them, so a cold
build waits for every chapter in turn while one of this machine's two cores idles
much of the time (small networks do not keep two threads busy). `make book` runs
this script first: it fills the same cache (``_build/.jupyter_cache``) the way
MyST-NB's ``cache`` mode does, with the same executor, cell timeout and working
folder, but runs ``--jobs`` chapters at once. Jupyter Book then finds every chapter
in the cache and only renders it.

Scheduling by cost: the chapters start longest first (seconds measured by the last
run, kept in ``_build/chapter_seconds.json``; before any run, the estimates below), so
the short ones fill the gaps at the end. Threads follow the number of chapters running:
each kernel gets ``cores / running`` threads, set before each of its cells (a silent
``torch.set_num_threads``), so the chapter that runs last alone gets every core. Two
chapters with two OpenMP threads each on two cores made every chapter ~10 times slower
(measured: chapter 6 took 923 s instead of 84 s), while one thread each keeps both cores
busy without oversubscription. An ``OMP_NUM_THREADS`` set by the caller is left alone.

A chapter that fails is reported with its traceback and the script exits 1, so a
failing chapter still fails the build (without executing it a second time).

Usage: python scripts/execute_chapters.py [--jobs N] CACHE_DIR
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import notebook_conventions

ROOT = Path(__file__).resolve().parent.parent


def chapters() -> list[Path]:
    """The chapter notebooks listed in ``_toc.yml``, in the book's order."""
    return notebook_conventions.chapters(ROOT)


def missing(cache_dir: Path, notebooks: list[Path]) -> list[Path]:
    """The notebooks whose code cells have no executed match in the cache."""
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    absent = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            absent.append(path)
    return absent


# Before any run has measured them: seconds per chapter (one thread, float32, measured on
# a 2-core Xeon without AMX). Only their order matters; a chapter not listed counts as short.
ESTIMATED_SECONDS = {"05_training": 300, "06_shortcuts_transfer": 140, "07_detection_browser": 25,
                     "04_looking_inside": 20, "02_pretrained_inference": 20, "03_batchnorm": 15,
                     "01_architecture": 10}
SECONDS_FILE = "chapter_seconds.json"  # beside the cache folder, which cache_key.py may delete
_threads = None  # in a worker: the shared number of threads per kernel (set by the parent)
_caller_threads = False  # in a worker: whether the caller fixed OMP_NUM_THREADS


def cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def seconds_file(cache_dir: Path) -> Path:
    return cache_dir.parent / SECONDS_FILE


def by_cost(notebooks: list[Path], cache_dir: Path) -> list[Path]:
    """``notebooks``, longest first: as the last run measured them, else as estimated."""
    measured = {}
    if seconds_file(cache_dir).exists():
        measured = json.loads(seconds_file(cache_dir).read_text(encoding="utf-8"))
    cost = {**ESTIMATED_SECONDS, **measured}
    return sorted(notebooks, key=lambda p: (-cost.get(p.stem, 0), p.name))


def remember_seconds(cache_dir: Path, seconds: dict[str, float]) -> None:
    """Add this run's measured seconds per chapter to the ones kept from earlier runs."""
    path = seconds_file(cache_dir)
    kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kept | {k: round(v, 1) for k, v in seconds.items()}, indent=1), encoding="utf-8")


def _init_worker(threads) -> None:
    global _threads, _caller_threads
    _threads, _caller_threads = threads, "OMP_NUM_THREADS" in os.environ


def set_threads_code(n: int) -> str:
    """Code for the kernel: ``n`` threads from now on, leaving no names in the chapter's namespace.

    Before torch is imported, ``OMP_NUM_THREADS`` is what it will read.
    """
    return (f"__import__('os').environ.__setitem__('OMP_NUM_THREADS', '{n}')\n"
            f"__import__('sys').modules.get('torch') and __import__('sys').modules['torch'].set_num_threads({n})")


def follow_threads(client, threads, current: int):
    """An ``on_cell_execute`` hook: before a cell runs, give the kernel ``threads.value`` threads
    if that changed (a silent execution: no output, no execution count)."""
    state = {"n": current}

    async def hook(cell, cell_index) -> None:
        n = threads.value
        if n != state["n"]:
            state["n"] = n
            client.kc.execute(set_threads_code(n), silent=True, store_history=False)

    return hook


def execute(path: str, timeout: int, allow_errors: bool) -> tuple[str, float, str | None, str | None]:
    """Execute one notebook in its folder: (path, seconds, traceback or None, executed notebook or None).

    Runs in a worker process; only the parent writes to the cache (one writer, no races).
    As jupyter-cache's ``single_nb_execution`` (the notebook's ``execution`` metadata may
    override the timeout and error policy), plus the thread hook.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    settings = nb.metadata.get("execution", {})
    client = NotebookClient(nb, timeout=settings.get("timeout", timeout),
                            allow_errors=settings.get("allow_errors", allow_errors),
                            resources={"metadata": {"path": str(Path(path).parent)}},
                            record_timing=False)  # cell metadata is part of the cache's key
    if not _caller_threads:  # the caller's choice stands
        os.environ["OMP_NUM_THREADS"] = str(_threads.value)  # the kernel inherits it
        client.on_cell_execute = follow_threads(client, _threads, _threads.value)
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError):
        return path, time.perf_counter() - start, traceback.format_exc(), None
    return path, time.perf_counter() - start, None, nbformat.writes(nb)


def store(cache_dir: Path, path: str, executed: str, seconds: float) -> None:
    """Put an executed notebook into the cache, as MyST-NB's cache mode does after executing it."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    record = cache.add_nb_to_project(path)
    cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(executed, as_version=4), record.uri,
                                              data={"execution_seconds": seconds}),
                                check_validity=False, overwrite=True)


def run(cache_dir: Path, notebooks: list[Path], jobs: int, timeout: int | None = None, allow_errors: bool = False,
        n_cores: int | None = None) -> int:
    """Execute those of ``notebooks`` that the cache lacks, ``jobs`` at a time; 0, or 1 if one failed.

    ``timeout``: seconds per cell (default: the book build's, ``_config.yml``)."""
    timeout = timeout or notebook_conventions.CELL_TIMEOUT
    todo = missing(cache_dir, notebooks)
    if not todo:
        print("execute_chapters: every chapter is in the execution cache")
        return 0
    todo = by_cost(todo, cache_dir)
    n_cores = n_cores or cores()

    def per_kernel(remaining: int) -> int:
        return max(1, n_cores // max(1, min(jobs, remaining)))

    print(f"execute_chapters: executing {len(todo)} chapters, {jobs} at a time, longest first: "
          + ", ".join(p.stem for p in todo), flush=True)
    start, failed, seconds = time.perf_counter(), [], {}
    threads = multiprocessing.Value("i", per_kernel(len(todo)))
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(threads,)) as pool:
        futures = [pool.submit(execute, str(p), timeout, allow_errors) for p in todo]
        for done, future in enumerate(as_completed(futures), 1):
            threads.value = per_kernel(len(todo) - done)  # fewer running: more threads each
            path, took, error, executed = future.result()
            print(f"execute_chapters: {path} {'FAILED' if error else 'executed'} in {took:.0f} s", flush=True)
            if error:
                failed.append(path)
                print(error, file=sys.stderr)
            else:
                store(cache_dir, path, executed, took)
                seconds[Path(path).stem] = took
    remember_seconds(cache_dir, seconds)
    print(f"execute_chapters: {len(todo)} chapters in {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"execute_chapters: {', '.join(failed)} failed; fix the error above "
              "(the book is not built with a failing chapter)", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache_dir", type=Path)
    parser.add_argument("--jobs", type=int, default=min(2, cores()))
    args = parser.parse_args()
    config = notebook_conventions.execute_config(ROOT)
    if config.get("execute_notebooks") != "cache":
        print("execute_chapters: execute_notebooks is not 'cache'; Jupyter Book executes the chapters itself")
        return 0
    return run(args.cache_dir, chapters(), args.jobs, notebook_conventions.cell_timeout(ROOT), bool(config.get("allow_errors")))


if __name__ == "__main__":
    sys.exit(main())
