"""Fixtures shared by the tests: the built sites, a headless Chromium and a local HTTP server (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support import SITE, STUDENT_SITE, Served, launch_options, require_site, serve


@pytest.fixture(scope="session")
def site() -> Path:
    return require_site(SITE, "make book")


@pytest.fixture(scope="session")
def student_site() -> Path:
    return require_site(STUDENT_SITE, "make book EDITION=student")


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """The built instructor site, served over HTTP on 127.0.0.1 (the browser tests)."""
    url, server = serve(site)
    yield url
    server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """A headless Chromium driven by Playwright (session-wide)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    options = launch_options()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(headless=True, **options)
        yield chromium
        chromium.close()


@pytest.fixture
def server(tmp_path_factory) -> Iterator[Served]:
    """An HTTP server on 127.0.0.1 serving a fresh, empty folder (tests of downloads)."""
    folder = tmp_path_factory.mktemp("served")
    base, httpd = serve(folder)
    yield Served(base, folder, httpd)
    httpd.shutdown()
    httpd.server_close()
