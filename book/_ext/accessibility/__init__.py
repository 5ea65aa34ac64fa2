"""What the book's pages need for WCAG 2.1 AA that the theme and extensions do not give (the book build).

- Figure descriptions: MyST-NB 1.4 takes an image's ``alt`` only from the cell's
  ``mystnb: image:`` metadata; this extension also takes it from the output's own metadata
  (``{"image/png": {"alt": ...}}``), which ``resnetbook.figures.show`` writes from the
  figure's data when the chapter runs.
- Unique ids: sphinx-exercise gives the body of every exercise the id ``exercise-content``
  and of every solution ``solution-content``; each becomes ``<admonition id>-content``.
- ``static/accessibility.js`` fixes what the theme's and extensions' scripts and templates
  write: it names each solution toggle after its exercise (sphinx-togglebutton names them all
  "Toggle hidden content"), empties the alt text of the launch buttons' logos, which sit next
  to their name ("Colab"), lets the search field's visible text name it, hides the colour-mode
  icons' titles, and puts code blocks that scroll sideways in the tab order.

- ``static/accessibility.css``: contrast the theme leaves to the page (chapter 1's source
  listings in light and dark mode, chapter 7's table caption in dark mode).

tests/test_accessibility.py runs axe-core over every page and checks each of these.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx

STATIC = Path(__file__).parent / "static"
SHARED_IDS = ("exercise-content", "solution-content")


def _render_image_with_alt(render_image):
    """MyST-NB's image renderer, also reading ``alt`` from the output's metadata for the image's type."""

    def render(self, data):
        rendered = render_image(self, data)
        alt = data.output_metadata.get(data.mime_type, {}).get("alt")
        if alt is not None:
            for node in rendered:
                if isinstance(node, nodes.image):
                    node["alt"] = str(alt)
        return rendered

    render.with_output_alt = True
    return render


def _patch_myst_nb() -> None:
    from myst_nb.core.render import NbElementRenderer

    if not getattr(NbElementRenderer.render_image, "with_output_alt", False):
        NbElementRenderer.render_image = _render_image_with_alt(NbElementRenderer.render_image)


def unique_content_ids(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Rename each exercise's and solution's ``*-content`` section after its admonition's id."""
    for section in doctree.findall(nodes.section):
        shared = [i for i in section["ids"] if i in SHARED_IDS]
        if not shared:
            continue
        parent = section.parent
        owner = parent["ids"][0] if parent is not None and parent.get("ids") else None
        if owner is None:
            raise ValueError(f"{docname}: an {shared[0]} section outside an exercise or solution")
        section["ids"] = [i for i in section["ids"] if i not in SHARED_IDS] + [f"{owner}-content"]


def setup(app: Sphinx) -> dict:
    _patch_myst_nb()
    app.connect("doctree-resolved", unique_content_ids)
    app.connect("builder-inited", lambda app: app.config.html_static_path.append(str(STATIC)))
    app.add_css_file("accessibility.css")
    app.add_js_file("accessibility.js", priority=900)  # after togglebutton.js (500): its buttons exist
    return {"parallel_read_safe": True, "parallel_write_safe": True}
