"""Progress bars: a widget in Jupyter and Colab, text in a terminal, none in the book build.

``tqdm.auto`` picks the bar; ``TQDM_DISABLE=1`` (set by the Makefile for builds and
tests, where nobody watches and a bar would reach the page) turns every bar off.
tqdm reads that variable for its text bars only: its notebook bar, which tqdm.auto
chooses when ipywidgets is installed, would still draw a widget, so it is passed on
explicitly here (chapter 5, training, downloads).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

from resnetbook import settings


def disabled_by_environment() -> bool:
    """Whether ``TQDM_DISABLE`` asks for no bars (any value but '', '0', 'false')."""
    return settings.current().progress_off


def bar(iterable: Iterable | None = None, *, disable: bool = False, **kwargs: Any) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **kwargs)``, off when ``disable`` or ``TQDM_DISABLE`` says so."""
    return tqdm(iterable, disable=disable or disabled_by_environment(), **kwargs)
