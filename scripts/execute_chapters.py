"""Execute the chapters that the execution cache lacks, two at a time, before the book build.

Jupyter Book executes notebooks one after another while it reads them, so a cold
build waits for every chapter in turn while one of this machine's two cores idles
much of the time (small networks do not keep two threads busy). `make book` runs
this script first: it fills the same cache (``_build/.jupyter_cache``) the way
MyST-NB's ``cache`` mode does, with the same executor, cell timeout and working
folder, but runs ``--jobs`` chapters at once. Jupyter Book then finds every chapter
in the cache and only renders it.

Each kernel gets ``cpu_count / jobs`` threads (``OMP_NUM_THREADS``, unless it is set): two
chapters with two OpenMP threads each on two cores made every chapter ~10 times slower
(measured: chapter 6 took 923 s instead of 84 s), while one thread each keeps both cores
busy without oversubscription (chapter 6 alone with one thread: 36 s).

A chapter that fails is reported with its traceback and the script exits 1, so a
failing chapter still fails the build (without executing it a second time).

Usage: python scripts/execute_chapters.py [--jobs N] CACHE_DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent


def execute_config() -> dict:
    """``_config.yml``'s ``execute`` section: the timeout and error policy the book uses."""
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8")).get("execute", {})


def chapters() -> list[Path]:
    """The chapter notebooks listed in ``_toc.yml``, in the book's order."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import editions

    return editions.chapters(ROOT)


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


def execute(path: str, timeout: int, allow_errors: bool,
            threads: int = 1) -> tuple[str, float, str | None, str | None]:
    """Execute one notebook in its folder: (path, seconds, traceback or None, executed notebook or None).

    Runs in a worker process; only the parent writes to the cache (one writer, no races).
    """
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # the kernel inherits it
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=allow_errors, meta_override=True)
    if result.err is not None:
        return path, result.time, result.exc_string, None
    return path, result.time, None, nbformat.writes(nb)


def store(cache_dir: Path, path: str, executed: str, seconds: float) -> None:
    """Put an executed notebook into the cache, as MyST-NB's cache mode does after executing it."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    record = cache.add_nb_to_project(path)
    cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(executed, as_version=4), record.uri,
                                              data={"execution_seconds": seconds}),
                                check_validity=False, overwrite=True)


def run(cache_dir: Path, notebooks: list[Path], jobs: int, timeout: int = 900, allow_errors: bool = False) -> int:
    """Execute those of ``notebooks`` that the cache lacks, ``jobs`` at a time; 0, or 1 if one failed."""
    todo = missing(cache_dir, notebooks)
    if not todo:
        print("execute_chapters: every chapter is in the execution cache")
        return 0
    # Later chapters train more: start them first, so the short ones fill the gaps at the end.
    todo = sorted(todo, key=lambda p: p.name, reverse=True)
    print(f"execute_chapters: executing {len(todo)} chapters, {jobs} at a time: "
          + ", ".join(p.stem for p in todo), flush=True)
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        futures = [pool.submit(execute, str(p), timeout, allow_errors, threads) for p in todo]
        for future in as_completed(futures):
            path, seconds, error, executed = future.result()
            print(f"execute_chapters: {path} {'FAILED' if error else 'executed'} in {seconds:.0f} s", flush=True)
            if error:
                failed.append(path)
                print(error, file=sys.stderr)
            else:
                store(cache_dir, path, executed, seconds)
    print(f"execute_chapters: {len(todo)} chapters in {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"execute_chapters: {', '.join(failed)} failed; fix the error above "
              "(the book is not built with a failing chapter)", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache_dir", type=Path)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    config = execute_config()
    if config.get("execute_notebooks") != "cache":
        print("execute_chapters: execute_notebooks is not 'cache'; Jupyter Book executes the chapters itself")
        return 0
    return run(args.cache_dir, chapters(), args.jobs, config.get("timeout", 900), bool(config.get("allow_errors")))


if __name__ == "__main__":
    sys.exit(main())
