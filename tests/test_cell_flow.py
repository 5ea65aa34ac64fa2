"""tests/cell_flow.py: which cells a configuration runs again, and the defects that make a skip show.

The online path and the unfilled student notebooks execute only the cells whose inputs their
configuration changes. These tests seed the defects that such a skip could hide.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

import cell_flow
from test_online_path import CHAPTERS, loads_online
from support import ROOT


def cell(source: str, cell_id: str, long: bool = False) -> nbformat.NotebookNode:
    made = new_code_cell(source, id=cell_id)
    if long:
        made.metadata["tags"] = [cell_flow.LONG_TAG]
    return made


def stub_varies(c: nbformat.NotebookNode) -> bool:
    return "NotImplementedError" in c.source


CELLS = [
    cell("import torch\ndata = torch.ones(3)", "setup"),
    cell("def train(x):\n    raise NotImplementedError()", "stub"),
    cell("curves = [data.sum() for _ in range(3)]", "experiment", long=True),
    cell("fig, ax = None, None\nbest = max(curves)", "glue"),       # needs the experiment, varies not
    cell("model = train(data)", "student", long=True),             # long, but reads the stub: runs
    cell("print(best, model)", "both"),                            # varies, and needs a skipped name
    cell("fig, ax = 1, 2\nprint(ax)", "rebinds"),                   # binds ax itself: runs
]


def ids(cells: list[nbformat.NotebookNode]) -> list[str]:
    return [c.get("id") for c in cells]


def test_a_long_cell_that_reads_nothing_that_varies_is_not_run_again_nor_what_needs_only_it():
    plan = cell_flow.plan(CELLS, stub_varies)
    assert ids(plan.skipped) == ["experiment", "glue"]
    assert ids(plan.run) == ["setup", "stub", "student", "both", "rebinds"]
    assert plan.skipped_names["curves"] == "experiment" and plan.skipped_names["best"] == "glue"
    assert "ax" not in plan.skipped_names  # bound again by a cell that runs


def test_a_long_cell_that_reads_a_varying_name_runs():
    seeded = [*CELLS[:2], cell("curves = [train(data)]", "experiment", long=True), *CELLS[3:]]
    plan = cell_flow.plan(seeded, stub_varies)
    assert "experiment" in ids(plan.run) and "glue" in ids(plan.run) and plan.skipped == []


def test_a_varying_cell_that_reaches_a_skipped_name_fails_and_names_the_cell():
    plan = cell_flow.plan(CELLS, stub_varies)
    executed = new_notebook(cells=[c.copy() for c in plan.run])
    executed.cells[3].outputs = [new_output("error", ename="NameError", evalue="name 'best' is not defined",
                                            traceback=[])]
    (message,) = cell_flow.skipped_name_errors(executed, plan.skipped_names)
    assert "cell both" in message and "'best'" in message and "glue" in message
    executed.cells[3].outputs[0].evalue = "name 'misspelt' is not defined"  # a real NameError: not ours to explain
    assert cell_flow.skipped_name_errors(executed, plan.skipped_names) == []


def test_the_online_path_runs_every_cell_that_loads_online_and_skips_only_long_ones():
    for chapter in CHAPTERS:
        notebook = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        plan = cell_flow.plan(code, loads_online)
        assert all(c in plan.run for c in code if loads_online(c)), chapter
        skipped_long = [c for c in plan.skipped if cell_flow.is_long(c)]
        assert set(ids(plan.skipped)) - set(ids(skipped_long)) <= {
            c.get("id") for c in plan.skipped if set(cell_flow.names(c.source)[1]) & set(plan.skipped_names)}
    chapter6 = nbformat.read(ROOT / "book" / "06_shortcuts_transfer.ipynb", as_version=4)
    plan = cell_flow.plan([c for c in chapter6.cells if c.cell_type == "code"], loads_online)
    assert any("degradation.run(" in c.source for c in plan.skipped)  # the build's result, not run again
    assert any("def online_runs(" in c.source for c in plan.run)  # fine-tuning the pretrained ResNet-18
