"""Helpers the tests share: the repository's paths, the chapters of `_toc.yml`, a local HTTP
server, the built sites and a page visit in headless Chromium.

Tests import them by name (`from support import ROOT, toc_sources`): pytest.ini puts
`tests/` on the path. The fixtures built on them live in `tests/conftest.py`.

The built sites come from `make book` (instructor edition, `_build/html`) and
`make book EDITION=student` (`_build/student/_build/html`); `make test` builds both
before it runs pytest. A test of a site that is missing skips with the command to
run (it fails instead when the environment variable CI is set); a site older than
its sources fails, since it would check old pages.

The browser is Debian's chromium (`scripts/provision.sh browser`), or the path in
RESNETBOOK_CHROMIUM, or Playwright's own build when RESNETBOOK_CHROMIUM=playwright
(the GitHub workflow). Without one, browser tests skip with the reason, unless
RESNETBOOK_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from notebook_conventions import toc_files

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
STUDENT_SITE = ROOT / "_build" / "student" / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def toc_sources() -> list[Path]:
    """Source files of the pages in `_toc.yml`, in reading order (root first)."""
    return toc_files(ROOT)


def page_of(source: Path) -> str:
    """The site path of a source file: book/03_batchnorm.ipynb -> book/03_batchnorm.html."""
    return source.relative_to(ROOT).with_suffix(".html").as_posix()


def require_site(site: Path, command: str) -> Path:
    """``site`` if it is built and newer than every page source; skip or fail otherwise."""
    if not (site / "index.html").exists():
        message = f"no built site in {site.relative_to(ROOT)}; run `{command}` first"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    stale = [
        source.relative_to(ROOT).as_posix()
        for source in toc_sources()
        if not (site / page_of(source)).exists()
        or (site / page_of(source)).stat().st_mtime < source.stat().st_mtime
    ]
    if stale:
        pytest.fail(f"{site.relative_to(ROOT)} is older than {stale}; run `{command}` again")
    return site


class _Handler(http.server.SimpleHTTPRequestHandler):
    """A folder's files; logs each path, and per path waits first or sends half the body."""

    def log_message(self, *args) -> None:  # keep pytest's output readable
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # a client that gave up waiting (timeout tests)
            super().handle()

    def send_head(self):
        self.server.requests.append(self.path)
        time.sleep(self.server.delays.get(self.path, 0.0))
        return super().send_head()

    def copyfile(self, source, outputfile) -> None:
        if self.path in self.server.truncated:  # the whole length was announced
            body = source.read()
            outputfile.write(body[: len(body) // 2])
        else:
            super().copyfile(source, outputfile)


def serve(folder: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    """Serve ``folder`` on 127.0.0.1 (a free port) from a daemon thread; returns the base URL.

    The server's ``requests`` lists the paths asked for; a path in its ``delays``
    (seconds) is answered late, one in ``truncated`` with half its bytes.
    """
    handler = functools.partial(_Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # closing the server does not wait for a slow answer
    server.requests, server.delays, server.truncated = [], {}, set()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@dataclass
class Served:
    """The ``server`` fixture: a served folder, filled by :meth:`add`."""

    base: str
    folder: Path
    httpd: http.server.ThreadingHTTPServer

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def add(self, path: str, body: bytes, *, truncate: bool = False, delay: float = 0.0) -> str:
        """Serve ``body`` at ``path`` (cut in half, or ``delay`` seconds late); returns its URL."""
        target = self.folder / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        if truncate:
            self.httpd.truncated.add(path)
        self.httpd.delays[path] = delay
        return self.url(path)


def closed_port_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 where nothing listens: the connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def launch_options() -> dict:
    choice = os.environ.get("RESNETBOOK_CHROMIUM", "/usr/bin/chromium")
    if choice == "playwright":
        return {"args": CHROMIUM_ARGS}
    if not Path(choice).is_file():
        message = (
            f"no Chromium at {choice}: install Debian's `chromium` (`bash scripts/provision.sh browser`) "
            "or set RESNETBOOK_CHROMIUM to a Chromium binary, or to `playwright` after `playwright install chromium`"
        )
        if os.environ.get("RESNETBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return {"executable_path": choice, "args": CHROMIUM_ARGS}


# JavaScript run in the page after it loaded. Lazy images are made eager and
# decoded; MathJax's startup promise is awaited so typesetting has finished.
_SETTLE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const images = [...document.images];
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
}"""

_INSPECT_JS = """() => {
  const math = [...document.querySelectorAll('.math')];
  const text = document.querySelector('main') ? document.querySelector('main').cloneNode(true) : document.body.cloneNode(true);
  text.querySelectorAll('pre, code, script, style, mjx-container, textarea').forEach(n => n.remove());
  return {
    brokenImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src),
    outputFigures: document.querySelectorAll('.cell_output img').length,
    mathCount: math.length,
    untypesetMath: math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    rawDelimiters: ['$$', '\\\\(', '\\\\)', '\\\\[', '\\\\]', '\\\\begin{'].filter(d => text.textContent.includes(d)),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    solutions: document.querySelectorAll('.solution').length,
    hiddenSolutions: document.querySelectorAll('.solution.toggle-hidden').length,
    exercises: document.querySelectorAll('.exercise').length,
    edition: (document.querySelector('meta[name=resnetbook-edition]') || {}).content || null,
  };
}"""


def visit(browser, base_url: str, path: str, screenshot: Path | None = None) -> dict:
    """Open ``base_url/path`` in a fresh page and report what went wrong.

    Returns the fields of _INSPECT_JS plus ``errors`` (uncaught exceptions and
    console errors), ``failed`` (failed requests and HTTP errors) and ``foreign``
    (requests to any host but 127.0.0.1, which are blocked).
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors, failed, foreign = [], [], []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("requestfailed", lambda req: failed.append(f"{req.url} ({req.failure})"))
    page.on("response", lambda resp: failed.append(f"{resp.url} (HTTP {resp.status})") if resp.status >= 400 else None)

    def only_local(route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{base_url}/{path}", wait_until="load")
    page.evaluate(_SETTLE_JS)
    page.wait_for_load_state("networkidle")
    report = page.evaluate(_INSPECT_JS)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))
        page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-full.png")), full_page=True)
        if report["hiddenSolutions"]:  # the worked solutions too, opened
            page.evaluate("document.querySelectorAll('.solution.toggle-hidden button.toggle-button').forEach(b => b.click())")
            page.wait_for_timeout(500)
            page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-solutions.png")), full_page=True)
    context.close()
    return {**report, "errors": errors, "failed": failed, "foreign": foreign}
