"""Figures as the book shows them: a PNG with its description, and text a reader can read (all chapters).

Every chapter figure goes through :func:`show`, which

- refuses a figure with text smaller than :data:`MIN_TEXT_PX` pixels as the page displays it:
  the PNG is drawn at :data:`DPI` and shrunk to the page's content width
  (:data:`CONTENT_PX`, measured on the built site at 1280 pixels; tests/test_accessibility.py
  checks it), so a label of ``s`` points shows at ``s * DPI / 72 * min(1, CONTENT_PX / width)``;
- displays the PNG with its description in the output's metadata
  (``{"image/png": {"alt": ...}}``), which book/_ext/accessibility makes the image's alt text.
  The description is written by the chapter from the data it plots: what is shown, and the
  finding the text draws from it.
"""

from __future__ import annotations

import base64
import io
import struct

from matplotlib.figure import Figure
from matplotlib.text import Text

DPI = 100             # as the notebooks' inline backend draws (matplotlib's figure.dpi)
CONTENT_PX = 688      # the width of a cell's output at a 1280-pixel window (measured: sphinx-book-theme 1.3)
MIN_TEXT_PX = 9.0     # the smallest text a figure may show, in displayed pixels
MIN_ALT_CHARS = 40    # a description says what is plotted and what it shows: not a word or two


def render_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes at :data:`DPI`, cropped to what is drawn (as the inline backend does)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def png_width(png: bytes) -> int:
    """The width in pixels of a PNG, read from its header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">I", png[16:20])[0]


def displayed_scale(width_px: int, content_px: int = CONTENT_PX) -> float:
    """How much the page shrinks an image ``width_px`` wide (never enlarged)."""
    return min(1.0, content_px / width_px)


def drawn_texts(fig: Figure) -> list[Text]:
    """The texts ``fig`` draws: its own, and each shown axes' titles, labels, ticks, notes and legend."""
    texts = list(fig.texts)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                if axis.get_visible():
                    texts += [axis.label, axis.offsetText, *axis.get_majorticklabels(), *axis.get_minorticklabels()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def small_texts(fig: Figure, png: bytes | None = None, min_px: float = MIN_TEXT_PX) -> list[tuple[str, float]]:
    """Each text ``fig`` draws smaller than ``min_px`` on the page, with its displayed size in pixels."""
    png = render_png(fig) if png is None else png
    scale = displayed_scale(png_width(png))
    sizes = ((t.get_text(), t.get_fontsize() * DPI / 72 * scale) for t in drawn_texts(fig))
    return [(text, round(px, 1)) for text, px in sizes if px < min_px]


def image_text_px(fig: Figure, ax, font_px: float) -> float:
    """How big text drawn ``font_px`` pixels high into the image that ``ax`` shows (e.g. box captions
    by ``draw_bounding_boxes``, chapter 7) shows on the page: the image is resampled to its size on the
    axes, then the page shrinks the PNG."""
    image = ax.get_images()[0]
    fig.canvas.draw()
    on_axes = image.get_window_extent().width * DPI / fig.dpi / image.get_array().shape[1]
    return font_px * on_axes * displayed_scale(png_width(render_png(fig)))


def check_alt(alt: str) -> str:
    """``alt`` stripped, or an error when it cannot describe a figure."""
    alt = " ".join(str(alt).split())
    if len(alt) < MIN_ALT_CHARS:
        raise ValueError(f"a figure's description must say what is plotted and what it shows "
                         f"(at least {MIN_ALT_CHARS} characters), got {alt!r}")
    return alt


def show(fig: Figure, alt: str) -> None:
    """Display ``fig`` with the description ``alt`` (its alt text) and close it (every chapter).

    Raises ValueError when a text of the figure would show smaller than :data:`MIN_TEXT_PX`
    pixels on the page, or when ``alt`` is too short to describe it.
    """
    from IPython.display import display
    import matplotlib.pyplot as plt

    alt = check_alt(alt)
    png = render_png(fig)
    small = small_texts(fig, png)
    if small:
        raise ValueError(f"text under {MIN_TEXT_PX:g} px on the page (at {CONTENT_PX} px content width): "
                         f"{small[:6]}; enlarge its font or make the figure narrower")
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": repr(fig)}
    display(data, raw=True, metadata={"image/png": {"alt": alt}})
    plt.close(fig)
