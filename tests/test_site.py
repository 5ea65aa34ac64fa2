"""The built site (instructor edition, `_build/html`) in a real browser.

Serves the site on 127.0.0.1 and opens every page of `_toc.yml` in headless
Chromium: no failed request, no JavaScript error, no request to another host,
every image decoded, math typeset, a Colab link on every chapter page that
opens a notebook the repository holds, and search finds the BatchNorm chapter.
Screenshots go to `_build/screenshots/` for people to look at.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from support import ROOT, SCREENSHOTS, page_of, toc_sources, visit

PAGES = [page_of(source) for source in toc_sources()]
CHAPTERS = [page_of(s) for s in toc_sources() if s.suffix == ".ipynb"]
COLAB = re.compile(r"^https://colab\.research\.google\.com/github/(?P<repo>[^/]+/[^/]+)/blob/(?P<branch>[^/]+)/(?P<path>.+)$")


@pytest.fixture(scope="module")
def reports(browser, base_url):
    """Each page is opened once; the tests below read its report."""

    @functools.cache
    def report(path: str) -> dict:
        return visit(browser, base_url, path, SCREENSHOTS / (path.replace("/", "_").removesuffix(".html") + ".png"))

    return report


def _repository() -> tuple[str, str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return config["url"].removeprefix("https://github.com/").strip("/"), config.get("branch", "main")


def _tracked(path: str) -> bool:
    """True when ``path`` is in the repository (tracked by git; on disk without .git)."""
    if not (ROOT / path).is_file():
        return False
    if not (ROOT / ".git").exists():
        return True
    result = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=ROOT, capture_output=True)
    return result.returncode == 0


def test_toc_lists_an_introduction_then_the_chapters():
    assert PAGES[0] == "book/intro.html"
    assert CHAPTERS and PAGES[1:] == CHAPTERS


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors(reports, path):
    report = reports(path)
    assert report["errors"] == [], "JavaScript errors"
    assert report["failed"] == [], "failed requests"
    assert report["foreign"] == [], "requests to another host"
    assert report["edition"] == "instructor"


@pytest.mark.parametrize("path", PAGES)
def test_every_image_is_decoded(reports, path):
    report = reports(path)
    assert report["brokenImages"] == []


@pytest.mark.parametrize("path", PAGES)
def test_math_is_typeset(reports, path):
    report = reports(path)
    assert report["untypesetMath"] == [], "math elements MathJax did not typeset"
    assert report["rawDelimiters"] == [], "math delimiters left in the text"


def test_the_book_has_math_and_figures(reports):
    # Guards the two checks above against passing on pages that have nothing to check.
    assert sum(reports(path)["mathCount"] for path in PAGES) > 0
    assert all(reports(path)["outputFigures"] > 0 for path in CHAPTERS), "a chapter without a figure"


@pytest.mark.parametrize("path", CHAPTERS)
def test_colab_link_opens_a_notebook_in_the_repository(reports, path):
    """One Colab button per student notebook of the chapter: the common one, then one per track that has its own."""
    repo, branch = _repository()
    links = [m for m in map(COLAB.match, reports(path)["links"]) if m]
    name = Path(path).with_suffix(".ipynb").name
    student = Path(path).parent / "student"
    if not (ROOT / student / name).exists():
        assert len(links) == 1, f"expected one Colab link, found {[m.group(0) for m in links]}"
        assert _tracked(links[0]["path"]), f"{links[0]['path']} is not in the repository"
        return
    tracks = sorted((student / folder.name / name).as_posix() for folder in (ROOT / student).iterdir() if (folder / name).is_file())
    paths = [link["path"] for link in links]
    assert paths[:1] == [(student / name).as_posix()], "Colab should open the student notebook first"
    assert sorted(paths[1:]) == tracks, "one more Colab button per track's own notebook"
    for link in links:
        assert (link["repo"], link["branch"]) == (repo, branch)
        assert _tracked(link["path"]), f"{link['path']} is not in the repository"


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_shows_problems_with_solutions_behind_toggles(reports, path):
    report = reports(path)
    assert report["solutions"] == report["exercises"], "every exercise has a worked solution"
    assert report["hiddenSolutions"] == report["solutions"], "solutions start hidden behind a toggle"


def test_search_finds_the_batchnorm_chapter(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/search.html?q=batch+normalization", wait_until="load")
    page.wait_for_selector("#search-results ul.search li a", timeout=20_000)
    hits = page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(a => a.href)")
    page.screenshot(path=str(SCREENSHOTS / "search.png"))
    context.close()
    assert any("book/03_batchnorm.html" in hit for hit in hits), hits
