"""What a reader sees on the built pages of both editions (no browser needed).

Every page of `_toc.yml`, in the instructor site (`_build/html`) and the student site
(`_build/student/_build/html`), is read as HTML and its visible text checked for
what must never reach a reader: markdown tables left as raw `| a | b |` text, MyST
source that was not rendered (`{glue`, `:::`, directive names), tracebacks, printed
warnings, and absolute paths of the build machine. Exercises are numbered within
their chapter (Exercise 4.2). The checks are plain functions, tested on bad HTML
below, so they can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from support import page_of, toc_sources

PAGES = [page_of(source) for source in toc_sources()]
CHAPTER_NUMBER = {page_of(s): n for n, s in enumerate(toc_sources()) if n > 0}  # the root is unnumbered

RAW_TABLE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*\|", re.M)  # a markdown table's |---|---| rule
MYST_LEFTOVER = re.compile(
    r"\{(?:glue|exercise|solution|solution-start|solution-end|admonition|only|note|figure|math|eval)[}:]"
    r"|^\s*:::|^\s*```\{",
    re.M,
)
# A chapter may print an error message on purpose (chapter 1 shows a shape mismatch);
# a traceback is what an uncaught error leaves.
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
WARNING = re.compile(r"\b[A-Z]\w*Warning\b\s*:|^\s*warnings\.warn\(", re.M)
MACHINE_PATH = re.compile(
    r"(?<![\w.~$}])/(?:work|home|root|tmp|usr|opt|var|private|Users)/\S*|[A-Za-z]:\\\S+|site-packages|dist-packages|\.venv/"
)
EXERCISE_NUMBER = re.compile(r"^(?:Solution to )?Exercise (\d+)(?:\.(\d+))?")


def visible_text(soup: BeautifulSoup, *, outputs_only: bool = False) -> str:
    """The text of the page's main content, without the code a cell runs (its outputs stay)."""
    main = soup.find("main") or soup.body
    main = BeautifulSoup(str(main), "html.parser")
    for node in main.select("script, style, .cell_input, mjx-container, .headerlink"):
        node.decompose()
    if outputs_only:
        return "\n".join(node.get_text("\n") for node in main.select(".cell_output"))
    return main.get_text("\n")


def problems(html: str, chapter: int | None = None) -> list[str]:
    """What is wrong with one page, as short messages (empty when the page is clean)."""
    soup = BeautifulSoup(html, "html.parser")
    text, outputs = visible_text(soup), visible_text(soup, outputs_only=True)
    found = []
    for name, pattern, where in [
        ("raw markdown table", RAW_TABLE, text),
        ("unrendered MyST", MYST_LEFTOVER, text),
        ("traceback", TRACEBACK, outputs),
        ("printed warning", WARNING, outputs),
        ("machine path", MACHINE_PATH, text),
    ]:
        found += [f"{name}: {match.group().strip()[:80]!r}" for match in pattern.finditer(where)]
    found += [f"stderr output: {n.get_text()[:80]!r}" for n in soup.select(".cell_output .stderr")]
    found += [f"traceback: {n.get_text()[:80]!r}" for n in soup.select(".cell_output .traceback")]
    if chapter is not None:
        for title in soup.select(".exercise .admonition-title, .solution .admonition-title"):
            match = EXERCISE_NUMBER.match(title.get_text(" ", strip=True))
            if match is None or match.group(1) != str(chapter) or match.group(2) is None:
                found.append(f"exercise not numbered within chapter {chapter}: {title.get_text(' ', strip=True)[:60]!r}")
    return found


def _check(site: Path, page: str) -> None:
    html = (site / page).read_text(encoding="utf-8")
    assert problems(html, CHAPTER_NUMBER.get(page)) == []


@pytest.mark.parametrize("page", PAGES)
def test_instructor_page_shows_only_what_a_reader_should_see(site, page):
    _check(site, page)


@pytest.mark.parametrize("page", PAGES)
def test_student_page_shows_only_what_a_reader_should_see(student_site, page):
    _check(student_site, page)


# --- the checks catch what they are for -------------------------------------------

def _page(body: str) -> str:
    return f"<html><body><main>{body}</main></body></html>"


CLEAN = _page(
    '<div class="cell_input"><pre>x = "/tmp/a"  # code may say anything</pre></div>'
    '<div class="cell_output"><pre>conv1 is line 268</pre></div>'
    "<table><tr><td>a</td></tr></table><p>Weights are cached in ~/.cache/torch.</p>"
    '<div class="exercise admonition"><p class="admonition-title">Exercise 4.2 (Units)</p></div>'
)


@pytest.mark.parametrize(
    "body, expected",
    [
        ('<div class="cell_output"><p>| region | unit |\n|---|---|\n| sky | 12 |</p></div>', "raw markdown table"),
        ("<p>The answer is {glue:text}`ch4_unit`.</p>", "unrendered MyST"),
        ("<p>:::{solution-end}\n:::</p>", "unrendered MyST"),
        ('<div class="cell_output"><pre>Traceback (most recent call last):\n  File "x"</pre></div>', "traceback"),
        ('<div class="cell_output"><div class="output traceback"><pre>KeyError: 1</pre></div></div>', "traceback"),
        ('<div class="cell_output"><pre>/x/tqdm/auto.py:21: TqdmWarning: IProgress not found</pre></div>', "printed warning"),
        ('<div class="cell_output"><pre>saved to /home/runner/work/book/x.png</pre></div>', "machine path"),
        ('<div class="cell_output"><pre>lib/python3.11/site-packages/torch</pre></div>', "machine path"),
        ('<div class="cell_output"><div class="output stderr"><pre>oops</pre></div></div>', "stderr output"),
        ('<div class="exercise admonition"><p class="admonition-title">Exercise 9 (Units)</p></div>', "exercise not numbered"),
    ],
)
def test_each_check_fails_a_bad_page(body, expected):
    assert problems(CLEAN, 4) == []
    assert any(message.startswith(expected) for message in problems(_page(body), 4)), problems(_page(body), 4)
