"""resnetbook.figures: every chapter figure is readable on the page and carries its description."""

from __future__ import annotations

import base64
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from resnetbook import figures
from support import toc_sources

ALT = "A line that rises from 1 to 3 over three steps: it only goes up."


def line_figure(width: float, legend_size: float = 10) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(width, 3))
    ax.plot([1, 2, 3], label="rising")
    ax.legend(fontsize=legend_size)
    ax.set_xlabel("step")
    return fig


def test_text_size_is_measured_as_the_page_displays_it():
    narrow = line_figure(4)
    assert figures.small_texts(narrow) == []  # 4 in at 100 dpi fits the page: shown 1:1
    wide = line_figure(14)  # shrunk about 2x: 10 pt reads as ~7 px
    png = figures.render_png(wide)
    scale = figures.displayed_scale(figures.png_width(png))
    assert scale < 0.65
    small = dict(figures.small_texts(wide, png))
    assert small["rising"] == pytest.approx(10 * figures.DPI / 72 * scale, abs=0.1)
    plt.close("all")


def test_hidden_axes_texts_do_not_count():
    fig, ax = plt.subplots(figsize=(12, 3))
    ax.imshow([[0, 1], [1, 0]])
    ax.axis("off")  # its tick labels are never drawn
    ax.set_title("a picture", fontsize=14)
    assert figures.small_texts(fig) == []
    plt.close(fig)


def test_show_displays_the_png_with_its_description():
    InteractiveShell.instance()
    fig = line_figure(4)
    with capture_output() as captured:
        figures.show(fig, ALT)
    (output,) = captured.outputs
    assert output.metadata == {"image/png": {"alt": ALT}}
    png = base64.b64decode(output.data["image/png"])
    assert figures.png_width(png) <= figures.CONTENT_PX
    assert not plt.fignum_exists(fig.number), "show closes the figure (no second copy from the inline backend)"


def test_show_refuses_small_text_and_missing_descriptions():
    InteractiveShell.instance()
    with pytest.raises(ValueError, match="text under 9 px"):
        figures.show(line_figure(4, legend_size=5), ALT)
    with pytest.raises(ValueError, match="must say what is plotted"):
        figures.show(line_figure(4), "a plot")
    plt.close("all")


@pytest.mark.parametrize("chapter", [s for s in toc_sources() if s.suffix == ".ipynb"], ids=lambda s: s.stem)
def test_every_figure_a_chapter_draws_is_shown_with_its_description(chapter):
    """A cell that makes a figure shows it with figures.show, which gives it its alt text (WCAG 1.1.1)."""
    notebook = json.loads(chapter.read_text(encoding="utf-8"))
    bare = [i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
            and re.search(r"plt\.(subplots|figure)\(", "".join(cell["source"]))
            and "figures.show(" not in "".join(cell["source"])]
    assert bare == [], f"cells {bare} draw a figure that figures.show does not display"


def test_text_painted_into_an_image_is_measured_as_the_page_shows_it():
    fig, ax = plt.subplots(figsize=(3.44, 3.44))  # 344 px: the page shows it at its own size
    ax.imshow(np.zeros((86, 86, 3), np.uint8))      # the image is enlarged about four times on the axes
    ax.set_position([0, 0, 1, 1])
    ax.set_axis_off()
    assert figures.image_text_px(fig, ax, 10) == pytest.approx(40, rel=0.05)
    fig.set_size_inches(13.76, 13.76)               # 1,376 px: the page halves it, the axes enlarge 16x
    assert figures.image_text_px(fig, ax, 10) == pytest.approx(80, rel=0.05)
    plt.close(fig)
