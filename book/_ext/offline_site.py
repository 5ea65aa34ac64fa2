"""The site works offline: MathJax served from the site, no duplicate Thebe script (the book build).

Serves MathJax from the site itself, so pages typeset math without reaching
another host: MathJax 3 ships in PyPI's ``django-static-mathjax`` wheel (plain
files; Django is not needed), and the SVG build with the components it may
load on demand is copied into ``_static/mathjax`` of the HTML output. The SVG
output draws glyphs from JavaScript data, so no web font is fetched.

Also keeps sphinx-thebe (which Jupyter Book always loads) from adding its
configuration script once per read phase: the second copy re-declares
``const THEBE_JS_URL`` and Chromium reports a JavaScript error on every page.
The book does not use Thebe (Colab is its launch target), so the script is
simply not added.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx

MATHJAX_DIR = "mathjax"
MATHJAX_FILES = ("tex-svg.js", "input", "output/svg", "ui", "a11y", "sre", "adaptors")


def _mathjax_source() -> Path:
    import mathjax  # the django-static-mathjax wheel

    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def _copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = _mathjax_source(), Path(app.outdir) / "_static" / MATHJAX_DIR
    for name in MATHJAX_FILES:
        if (target / name).exists():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name)
        else:
            shutil.copy2(source / name, target / name)


def _drop_thebe_scripts(app: Sphinx) -> None:
    listeners = app.events.listeners.get("env-before-read-docs", [])
    for listener in list(listeners):
        if getattr(listener.handler, "__name__", "") == "init_thebe_core":
            app.disconnect(listener.id)


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _copy_mathjax)
    _drop_thebe_scripts(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
