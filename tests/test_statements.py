"""Statements that span pages, checked in the sources (issue 25): one year for one paper,
exercise references that point at an exercise, and the detectors the introduction credits."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from support import toc_sources

HE_ET_AL = re.compile(r"(?:He et al\.|Deep Residual Learning for Image Recognition)\W{0,4}[^.]{0,40}?\b(20\d\d)\b")
EXERCISE_REF = re.compile(r"\bExercise (\d+)\.(\d+)\b")


def prose(source: Path) -> str:
    """The markdown a page's reader sees (a notebook's markdown cells, or the .md file)."""
    if source.suffix == ".md":
        return source.read_text(encoding="utf-8")
    notebook = nbformat.read(source, as_version=4)
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def code(source: Path) -> str:
    notebook = nbformat.read(source, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def years_of_he_et_al(text: str) -> set[str]:
    return set(HE_ET_AL.findall(text))


def test_the_year_finder_sees_both_forms():
    assert years_of_he_et_al('He et al. (2015) found. "Deep Residual Learning for Image Recognition" (CVPR 2016)') \
        == {"2015", "2016"}


def test_he_et_al_has_one_year_on_every_page():
    years = {source.name: years_of_he_et_al(prose(source)) for source in toc_sources()}
    assert set().union(*years.values()) == {"2016"}, years


@pytest.mark.parametrize("source", [s for s in toc_sources() if s.suffix == ".ipynb"], ids=lambda p: p.stem)
def test_exercise_references_point_at_an_exercise(source):
    chapters = [s for s in toc_sources()[1:] if s.suffix == ".ipynb"]
    counts = {n: prose(s).count("{exercise}") for n, s in enumerate(chapters, start=1)}
    for chapter, number in EXERCISE_REF.findall(prose(source)):
        assert 1 <= int(number) <= counts.get(int(chapter), 0), f"{source.name}: Exercise {chapter}.{number}"


def test_the_introduction_credits_only_detectors_chapter_7_runs():
    intro, ch7 = toc_sources()[0], next(s for s in toc_sources() if s.name.startswith("07_"))
    runs_ssd = "ssd300_vgg16" in code(ch7)
    assert runs_ssd or "describes SSD" in prose(intro) and "describes SSD" in prose(ch7)
