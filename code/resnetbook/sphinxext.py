"""Sphinx glue for the book build (not used by chapters).

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
    setup_editions(app)  # student/instructor editions, Colab targets (below)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# ---------------------------------------------------------------------------
# Editions and Colab targets (engineer "verify"; see scripts/student_edition.py).
# Everything below is reached through setup_editions(app) only.
# ---------------------------------------------------------------------------

import os  # noqa: E402  (kept with the code that uses it)

from sphinx.transforms import SphinxTransform  # noqa: E402

EDITIONS = ("instructor", "student")


def setup_editions(app: Sphinx) -> None:
    """Instructor (solutions behind toggles) or student (solutions removed) edition.

    The edition comes from the environment variable ``RESNETBOOK_EDITION``
    (``make book EDITION=student``); it is also a Sphinx tag, so a page can say
    ``:::{only} student`` or ``:::{only} instructor``. Both editions point the Colab button at the
    student notebook ``book/student/<chapter>.ipynb`` when it exists; the student
    edition also serves that notebook as the page's ``.ipynb`` download.
    """
    default = os.environ.get("RESNETBOOK_EDITION") or "instructor"
    app.add_config_value("resnetbook_edition", default, "env", [str])
    app.connect("config-inited", _check_edition)
    app.add_transform(_RemoveSolutions)
    # After sphinx-book-theme added its launch buttons (priority 501).
    app.connect("html-page-context", _edition_page_context, priority=502)
    app.connect("build-finished", _serve_student_notebooks)


def _check_edition(app: Sphinx, config) -> None:
    from sphinx.errors import ConfigError

    if config.resnetbook_edition not in EDITIONS:
        raise ConfigError(
            f"RESNETBOOK_EDITION must be one of {EDITIONS}, not {config.resnetbook_edition!r}"
        )
    app.tags.add(config.resnetbook_edition)
    if config.resnetbook_edition == "student":
        # sphinx-exercise's own hide_solutions drops only the solution-start marker
        # and leaves the gated cells on the page; _RemoveSolutions drops it all.
        config.hide_solutions = False
        # Execution does not depend on the edition: reuse the instructor build's cache.
        if not config.nb_execution_cache_path:
            config.nb_execution_cache_path = str(Path(app.srcdir) / "_build" / ".jupyter_cache")


class _RemoveSolutions(SphinxTransform):
    """Student edition: remove worked solutions from the page (and the search index)."""

    default_priority = 20  # after sphinx-exercise merged gated solutions (priority 10)

    def apply(self, **kwargs) -> None:
        if self.config.resnetbook_edition != "student":
            return
        from sphinx_exercise.nodes import solution_end_node, solution_node, solution_start_node

        kinds = (solution_node, solution_start_node, solution_end_node)
        for node in list(self.document.findall(lambda n: isinstance(n, kinds))):
            node.parent.remove(node)


def _student_notebook(app: Sphinx, pagename: str) -> Path | None:
    """``book/student/<name>.ipynb`` for the chapter page ``book/<name>``, if it exists."""
    path = Path(app.srcdir) / pagename
    student = path.parent / "student" / (path.name + ".ipynb")
    return student if student.is_file() else None


def _edition_page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    edition = app.config.resnetbook_edition
    context["metatags"] = context.get("metatags", "") + f'\n<meta name="resnetbook-edition" content="{edition}">'
    student = _student_notebook(app, pagename)
    if student is None:
        return
    target = student.relative_to(app.srcdir).as_posix()
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            url = button.get("url", "")
            if button.get("text") == "Colab" and "/blob/" in url:
                head, rest = url.split("/blob/", 1)
                button["url"] = f"{head}/blob/{rest.split('/', 1)[0]}/{target}"


def _serve_student_notebooks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html" or app.config.resnetbook_edition != "student":
        return
    for docname in app.env.found_docs:
        student = _student_notebook(app, docname)
        served = Path(app.outdir) / "_sources" / f"{docname}.ipynb"
        if student is not None and served.exists():
            shutil.copy2(student, served)
