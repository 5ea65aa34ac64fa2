"""Showing a class's or function's source, lines numbered as in its file, some highlighted (chapter 1)."""

from __future__ import annotations

import html
import inspect
from collections.abc import Iterable
from dataclasses import dataclass

from pygments import highlight as render
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from resnetbook.source import package_path

# Outside the book (Jupyter, Colab: no data-theme on <html>) the highlighted lines get this
# background; in the book the theme's Pygments palettes colour the tokens and the lines, in light
# and dark mode (book/_ext/accessibility/static/accessibility.css marks the highlighted lines in bold too).
_OUTSIDE_THE_BOOK = "<style>html:not([data-theme]) .resnetbook-source .hll {background-color: #ffd966}</style>"


@dataclass(frozen=True)
class HighlightedSource:
    """Source lines numbered as in their file, some highlighted (chapter 1).

    Displays as HTML in the book (Pygments) and as plain text elsewhere, where a
    ``>`` marks the highlighted lines. ``label`` names the file as a package path.
    """

    label: str
    start: int
    lines: list[str]
    highlight: frozenset[int]

    def __repr__(self) -> str:
        width = len(str(self.start + len(self.lines)))
        rows = [f"{n:>{width}} {'>' if n in self.highlight else ' '} {line.rstrip()}"
                for n, line in enumerate(self.lines, self.start)]
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        relative = sorted(n - self.start + 1 for n in self.highlight)
        # Token classes, not inline colours: the page's theme colours them for its light or dark mode.
        formatter = HtmlFormatter(linenos="inline", linenostart=self.start, hl_lines=relative)
        body = render("".join(self.lines), PythonLexer(stripnl=False), formatter)
        caption = f"{self.label}, lines {self.start}-{self.start + len(self.lines) - 1}"
        return (f"<div class='resnetbook-source'>{_OUTSIDE_THE_BOOK}"
                f"<p class='resnetbook-source-caption'>{html.escape(caption)}</p>{body}</div>")


def show_source(obj: object, highlight: Iterable[int] = ()) -> HighlightedSource:
    """Source of a class or function, lines numbered as in its file (chapter 1).

    ``highlight`` holds file line numbers; each must be one of the shown lines.
    """
    lines, start = inspect.getsourcelines(obj)
    marked = frozenset(highlight)
    outside = sorted(marked - set(range(start, start + len(lines))))
    if outside:
        raise ValueError(f"lines {outside} are outside {start}..{start + len(lines) - 1}")
    return HighlightedSource(package_path(obj), start, lines, marked)
