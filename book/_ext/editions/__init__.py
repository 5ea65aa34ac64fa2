"""The book's two editions, in one place (a Sphinx extension, and what make student uses).

- Sphinx (``sphinx: local_extensions`` in _config.yml): ``RESNETBOOK_EDITION`` chooses the
  instructor edition (worked solutions behind toggles) or the student edition (solutions
  removed from pages, search index and downloads); both point Colab at the student notebook.
- :mod:`editions.student_notebook`: a chapter's student notebook (``make student``).
- :mod:`editions.release`: a self-contained student release (``make student-release``).
- :mod:`editions.tracks`: tracks (``resnetbook_tracks``): exercises for some tracks only, points per track.
- :func:`chapters`: the chapter notebooks, in the order of ``_toc.yml`` (:mod:`notebook_conventions`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

from editions import tracks
from notebook_conventions import CHECK_TAG, chapters

LOGGER = logging.getLogger(__name__)


EDITIONS = ("instructor", "student")


def setup(app: Sphinx) -> dict:
    """Instructor (solutions behind toggles) or student (solutions removed) edition.

    The edition comes from the environment variable ``RESNETBOOK_EDITION``
    (``make book EDITION=student``); it is also a Sphinx tag, so a page can say
    ``:::{only} student`` or ``:::{only} instructor``. Both editions point the Colab button at the
    student notebook ``book/student/<chapter>.ipynb`` when it exists; the student
    edition also serves that notebook as the page's ``.ipynb`` download.
    """
    default = os.environ.get("RESNETBOOK_EDITION") or "instructor"
    app.add_config_value("resnetbook_edition", default, "env", [str])
    app.add_config_value(tracks.CONFIG_KEY, [], "env", [list, tuple])
    app.connect("config-inited", _check_edition)
    app.add_transform(_RemoveSolutions)
    app.add_transform(_CheckTracks)
    # After sphinx-book-theme added its launch buttons (priority 501).
    app.connect("html-page-context", _edition_page_context, priority=502)
    app.connect("build-finished", _serve_student_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _check_edition(app: Sphinx, config) -> None:
    from sphinx.errors import ConfigError

    if config.resnetbook_edition not in EDITIONS:
        raise ConfigError(
            f"RESNETBOOK_EDITION must be one of {EDITIONS}, not {config.resnetbook_edition!r}"
        )
    app.tags.add(config.resnetbook_edition)
    try:
        tracks.checked_tracks(config.resnetbook_tracks)
    except ValueError as error:
        raise ConfigError(f"_config.yml, sphinx: config: {error}") from None
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
        _remove_check_outputs(self.document)


def _remove_check_outputs(document: nodes.document) -> None:
    """Student edition: drop the stored outputs of check cells. The build ran each check on the
    reference solution ("all 2 checks passed"), which the student has not written."""
    def is_check(node: nodes.Node) -> bool:
        return isinstance(node, nodes.container) and f"tag_{CHECK_TAG}" in node.get("classes", [])

    for cell in list(document.findall(is_check)):
        for child in list(cell.children):
            if child.get("nb_element") == "cell_code_output":
                cell.remove(child)


class _CheckTracks(SphinxTransform):
    """Every exercise title's points name only tracks that _config.yml names (a warning, so -W fails)."""

    default_priority = 21

    def apply(self, **kwargs) -> None:
        from sphinx_exercise.nodes import exercise_enumerable_node, exercise_node

        names = tracks.checked_tracks(self.config.resnetbook_tracks)
        for node in self.document.findall(lambda n: isinstance(n, (exercise_node, exercise_enumerable_node))):
            title = node.children[0].astext() if node.children else ""
            try:
                tracks.validate(tracks.parse(title), names)
            except ValueError as error:
                LOGGER.warning(str(error), location=node)


def _student_notebook(app: Sphinx, pagename: str, track: str | None = None) -> Path | None:
    """``book/student/<name>.ipynb`` (``book/student/<track>/<name>.ipynb``) for the page ``book/<name>``, if it exists."""
    path = Path(app.srcdir) / pagename
    student = path.parent / "student" / (track or "") / (path.name + ".ipynb")
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
                group["buttons"] = group["buttons"] + _track_buttons(app, pagename, button)
                break


def _track_buttons(app: Sphinx, pagename: str, colab: dict) -> list[dict]:
    """A Colab button per track that has its own student notebook of the page (books with tracks)."""
    buttons = []
    for track in tracks.checked_tracks(app.config.resnetbook_tracks):
        notebook = _student_notebook(app, pagename, track)
        if notebook is not None:
            head = colab["url"].rsplit("/book/student/", 1)[0]
            buttons.append({**colab, "text": f"Colab ({track})", "tooltip": f"{colab.get('tooltip', 'Colab')}: the {track} track",
                            "url": f"{head}/{notebook.relative_to(app.srcdir).as_posix()}"})
    return buttons


def _serve_student_notebooks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html" or app.config.resnetbook_edition != "student":
        return
    for docname in app.env.found_docs:
        student = _student_notebook(app, docname)
        served = Path(app.outdir) / "_sources" / f"{docname}.ipynb"
        if student is not None and served.exists():
            shutil.copy2(student, served)


# ---------------------------------------------------------------- student notebooks on disk


def student_path(source: Path, track: str | None = None) -> Path:
    """Where the student notebook of ``source`` lives: ``<folder>/student/<name>``, or
    ``<folder>/student/<track>/<name>`` for one track's."""
    return source.parent / "student" / (track or "") / source.name


def render(source: Path, number: int, track: str | None = None) -> str:
    """The student notebook of chapter ``number`` (``source``), as the text written to disk.

    With ``track``, the notebook of that track: other tracks' exercises say so and have no
    cells to fill (:func:`editions.tracks.for_track`).
    """
    import nbformat

    from editions.student_notebook import student_notebook

    notebook = nbformat.read(source, as_version=4)
    if track is not None:
        notebook = tracks.for_track(notebook, track, f"{source.name}: ")
    return nbformat.writes(student_notebook(notebook, number, source.stem)) + "\n"


def student_notebooks(root: Path) -> list[tuple[Path, int, str | None]]:
    """``(chapter, number, track)`` of every student notebook: one per chapter, and one per track for a
    chapter that marks exercises for some tracks (``resnetbook_tracks`` in _config.yml)."""
    import nbformat

    names, found = tracks.book_tracks(root), []
    for number, source in enumerate(chapters(root), start=1):
        notebook = nbformat.read(source, as_version=4)
        found += [(source, number, t) for t in (None, *tracks.chapter_tracks(notebook, names, f"{source.name}: "))]
    return found


def _stale(root: Path, expected: set[Path]) -> list[Path]:
    """Student notebooks on disk that no chapter (or track) generates."""
    folders = {student_path(s).parent for s in chapters(root)}
    on_disk = [p for folder in folders for p in sorted(folder.glob("*.ipynb")) + sorted(folder.glob("*/*.ipynb"))]
    return [p for p in on_disk if p not in expected]


def out_of_sync(root: Path) -> list[str]:
    """Student notebooks that differ from what the chapters generate, or have no chapter."""
    problems, expected = [], set()
    for source, number, track in student_notebooks(root):
        target = student_path(source, track)
        expected.add(target)
        if not target.exists() or target.read_text(encoding="utf-8") != render(source, number, track):
            problems.append(target.relative_to(root).as_posix())
    return problems + [f"{p.relative_to(root).as_posix()} (no chapter)" for p in _stale(root, expected)]


def write_all(root: Path) -> list[Path]:
    """Write every chapter's student notebook(s); delete those whose chapter (or track) is gone."""
    written = []
    for source, number, track in student_notebooks(root):
        target = student_path(source, track)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(source, number, track), encoding="utf-8")
        written.append(target)
    for stale in _stale(root, set(written)):
        stale.unlink()
        if stale.parent.name != "student" and not any(stale.parent.iterdir()):
            stale.parent.rmdir()
    return written
