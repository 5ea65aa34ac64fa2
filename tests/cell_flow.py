"""Which cells a test configuration must execute again: the names cells bind and read, followed.

The site build executes every chapter (the oracle for the stored outputs). A test that runs a
chapter again in another configuration (pretrained weights, an unfilled student notebook) only
learns something from the cells whose inputs that configuration can change. So:

- a cell *varies* when the configuration changes it (it loads the weights; it is a stub) or it
  reads a name a varying cell bound: those cells always run;
- a *long* cell (tagged ``otter_ignore``: the training and export cells the autograder skips
  too) that does not vary is not executed again; its result is the build's, checked there
  against the stored outputs; nor is a cell that needs its result and does not vary;
- a varying cell that reads a skipped cell's name still runs. Where that name is reached, the
  run fails with a NameError that names the skipped cell (:func:`skipped_name_errors`): the
  test then fails loudly, never passes by skipping.

``names`` reads a cell with Python's own ``symtable`` (IPython's magics transformed first).
Used by tests/test_online_path.py, tests/test_student_notebooks_run.py and tests/test_autograder.py.
"""

from __future__ import annotations

import re
import symtable
from collections.abc import Callable
from dataclasses import dataclass, field

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

LONG_TAG = "otter_ignore"


def names(source: str) -> tuple[set[str], set[str], set[str]]:
    """(bound at the top level, read at the top level, read as globals inside functions) by a cell."""
    table = symtable.symtable(TransformerManager().transform_cell(source), "<cell>", "exec")
    bound = {s.get_name() for s in table.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace()}
    read = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    inner: set[str] = set()
    todo = list(table.get_children())
    while todo:
        child = todo.pop()
        inner |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        todo += child.get_children()
    return bound, read, inner


def is_long(cell: nbformat.NotebookNode) -> bool:
    """A training or export cell that the autograder skips as well (tag ``otter_ignore``)."""
    return LONG_TAG in cell.metadata.get("tags", [])


@dataclass
class Plan:
    """The code cells to execute again, and for each name only skipped cells bind, the cell that binds it."""

    run: list[nbformat.NotebookNode] = field(default_factory=list)
    skipped: list[nbformat.NotebookNode] = field(default_factory=list)
    skipped_names: dict[str, str] = field(default_factory=dict)  # name -> id of the skipped cell


def plan(cells: list[nbformat.NotebookNode], varies: Callable[[nbformat.NotebookNode], bool]) -> Plan:
    """Split ``cells`` (code cells, in order) into those to run and the long ones that need not run again."""
    result, varying = Plan(), set()
    for cell in cells:
        bound, read, inner = names(cell.source)
        used = (read | inner) - bound  # a name the cell binds itself is its own (``fig, ax = ...``)
        if varies(cell) or used & varying:
            varying |= bound
        elif is_long(cell) or used & set(result.skipped_names):
            result.skipped.append(cell)
            result.skipped_names.update(dict.fromkeys(bound, cell.get("id")))
            continue
        else:
            varying -= bound
        for name in bound:
            result.skipped_names.pop(name, None)
        result.run.append(cell)
    return result


NAME_ERROR = re.compile(r"name '(\w+)' is not defined")


def skipped_name_errors(notebook: nbformat.NotebookNode, skipped_names: dict[str, str]) -> list[str]:
    """What each NameError of an executed ``notebook`` says about a skipped cell's name (empty: none)."""
    found = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            match = NAME_ERROR.search(out.get("evalue", "")) if out.get("output_type") == "error" else None
            if match and match[1] in skipped_names:
                found.append(f"cell {cell.get('id')} varies with this configuration but reads {match[1]!r}, "
                             f"which only the long cell {skipped_names[match[1]]} computes: untag that cell, "
                             f"or compute {match[1]!r} where it does not vary")
    return found


def without(notebook: nbformat.NotebookNode, skipped: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """A copy of ``notebook`` without the ``skipped`` cells, to execute."""
    ids = {cell.get("id") for cell in skipped}
    copy = nbformat.from_dict(notebook)
    copy.cells = [cell for cell in copy.cells if cell.get("id") not in ids]
    return copy
