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

_HIGHLIGHT = "background-color: #ffd966"


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
        formatter = HtmlFormatter(linenos="inline", linenostart=self.start, hl_lines=relative,
                                  noclasses=True, style="friendly")
        body = render("".join(self.lines), PythonLexer(stripnl=False), formatter)
        # Pygments' default highlight is too pale to spot on the book's pages.
        body = body.replace(f"background-color: {formatter.style.highlight_color}", _HIGHLIGHT)
        caption = f"{self.label}, lines {self.start}-{self.start + len(self.lines) - 1}"
        return (f"<div><p style='margin:0;font-size:85%;color:#555'>{html.escape(caption)}</p>"
                f"{body}</div>")


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
