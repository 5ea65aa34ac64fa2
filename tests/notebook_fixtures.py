"""A small chapter notebook that follows the book's conventions, for tests.

It has a Colab setup cell, a demo cell that glues a value, an exercise whose worked
solution is a scaffold cell (a function whose body is a ``### BEGIN SOLUTION`` region),
a demo solution cell and an explanation, a check cell, and an exercise answered in words.
The solution holds marker strings that must never reach a student.
"""

from __future__ import annotations

import nbformat
from nbformat import NotebookNode

SECRET_CODE = "hidden_answer = sum(range(n + 1))  # SECRET-SOLUTION-CODE"
SECRET_TEXT = "SECRET-SOLUTION-TEXT explains the answer"
SECRET_OUTPUT = "SECRET-SOLUTION-OUTPUT 21"
SCAFFOLD = f'''def tiny_sum(n: int) -> int:
    """The sum 0 + 1 + ... + n."""
    if n < 0:
        raise ValueError("n must be at least 0")
    ### BEGIN SOLUTION
    {SECRET_CODE}
    return hidden_answer
    ### END SOLUTION'''


def _code(cell_id: str, source: str, outputs=(), tags=(), count=None) -> NotebookNode:
    cell = nbformat.v4.new_code_cell(source, id=cell_id, execution_count=count)
    cell.outputs = list(outputs)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _md(cell_id: str, source: str) -> NotebookNode:
    return nbformat.v4.new_markdown_cell(source, id=cell_id)


def _glue_output(name: str, text: str) -> NotebookNode:
    return nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": repr(text)},
        metadata={"scrapbook": {"mime_prefix": "application/papermill.record/", "name": name}},
    )


def chapter_notebook() -> NotebookNode:
    """A notebook in the book's conventions, executed (outputs and counts stored)."""
    stream = nbformat.v4.new_output
    cells = [
        _md("c0", "# A tiny chapter\n\n:::{admonition} Learning goals\n- Add numbers.\n:::\n\nSome math: $y = F(x) + x$."),
        _code("c1", "try:\n    import json\nexcept ImportError:\n    pass", tags=["remove-cell"], count=1),
        _code("c2", "from myst_nb import glue\n\nprint('fact:', 2 + 3)\nglue('tiny_fact', '5',\n     display=False)",
              [stream("stream", name="stdout", text="fact: 5\n"), _glue_output("tiny_fact", "5")], count=2),
        _md("c3", "The fact is {glue:text}`tiny_fact`.\n\n:::{exercise} Add numbers\n:label: tiny-sum\nWrite `tiny_sum(n)`.\n:::"),
        _md("c4", ":::{solution-start} tiny-sum\n:class: dropdown\n:::"),
        _code("c5", SCAFFOLD, tags=["solution"], count=3),
        _md("c6", SECRET_TEXT + "."),
        _code(
            "c7",
            "print('SECRET-SOLUTION-OUTPUT', tiny_sum(6))",
            [stream("stream", name="stdout", text=SECRET_OUTPUT + "\n")],
            tags=["solution"],
            count=4,
        ),
        _md("c8", ":::{solution-end}\n:::"),
        _code("c8b", "assert tiny_sum(6) == 21\nprint('tiny_sum: all 1 checks passed')",
              [stream("stream", name="stdout", text="tiny_sum: all 1 checks passed\n")], tags=["student-check"], count=5),
        _md("c9", ":::{exercise} Say why\n:label: tiny-why\nWhy 21?\n:::\n\n:::{solution} tiny-why\n:class: dropdown\n" + SECRET_TEXT + " again.\n:::"),
        _code("c10", "print('after the solutions')", [stream("stream", name="stdout", text="after the solutions\n")], count=6),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook
