"""A small chapter notebook that follows the book's conventions, for tests.

It has a Colab setup cell, a demo cell with output, an exercise, a gated worked
solution (two tagged code cells and a markdown explanation) and a text-only
solution. The solution code holds marker strings that must never reach a student.
"""

from __future__ import annotations

import nbformat
from nbformat import NotebookNode

SECRET_CODE = "hidden_answer = sum(range(7))  # SECRET-SOLUTION-CODE"
SECRET_TEXT = "SECRET-SOLUTION-TEXT explains the answer"
SECRET_OUTPUT = "SECRET-SOLUTION-OUTPUT 21"


def _code(cell_id: str, source: str, outputs=(), tags=(), count=None) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(source, id=cell_id, execution_count=count)
    cell.outputs = list(outputs)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _md(cell_id: str, source: str) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(source, id=cell_id)


def chapter_notebook() -> NotebookNode:
    """A notebook in the book's conventions, executed (outputs and counts stored)."""
    stream = nbformat.v4.new_output
    cells = [
        _md("c0", "# A tiny chapter\n\nSome math: $y = F(x) + x$."),
        _code("c1", "try:\n    import json\nexcept ImportError:\n    pass", tags=["remove-cell"], count=1),
        _code("c2", "print('fact:', 2 + 3)", [stream("stream", name="stdout", text="fact: 5\n")], count=2),
        _md("c3", ":::{exercise} Add numbers\n:label: tiny-sum\nCompute the sum of 0..6.\n:::"),
        _md("c4", ":::{solution-start} tiny-sum\n:class: dropdown\n:::"),
        _code("c5", SECRET_CODE, tags=["solution"], count=3),
        _md("c6", SECRET_TEXT + "."),
        _code(
            "c7",
            "print('SECRET-SOLUTION-OUTPUT', hidden_answer)",
            [stream("stream", name="stdout", text=SECRET_OUTPUT + "\n")],
            tags=["solution"],
            count=4,
        ),
        _md("c8", ":::{solution-end}\n:::"),
        _md("c9", ":::{exercise} Say why\n:label: tiny-why\nWhy 21?\n:::\n\n:::{solution} tiny-why\n:class: dropdown\n" + SECRET_TEXT + " again.\n:::"),
        _code("c10", "print('after the solutions')", [stream("stream", name="stdout", text="after the solutions\n")], count=5),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook
