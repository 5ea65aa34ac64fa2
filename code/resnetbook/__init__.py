"""Shared code of the ResNet course book.

Chapters import modules explicitly, e.g. ``from resnetbook import data, weights``.
Each function's docstring names the chapter(s) that use it.
"""

__version__ = "0.1.0"
