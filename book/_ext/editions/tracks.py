"""Tracks: one book, several groups of students (an undergraduate and a graduate course).

The one home of the track markup; the site (:mod:`editions`), the student notebooks and the
autograder (:func:`notebook_conventions.exercises`) all read it from here.

- The book names its tracks in ``_config.yml``, where Jupyter Book passes settings to Sphinx::

      sphinx:
        config:
          resnetbook_tracks: [undergraduate, graduate]

  A book that names none has no tracks: everything builds as if this module did not exist.
- An exercise's title ends with its points, which also say whose exercise it is. The title is
  shown as written, on the site and in the student notebook, so a reader sees both::

      :::{exercise} Slope and intercept (2 points)                           every track
      :::{exercise} The fewest units (graduate only, 2 points)               one track
      :::{exercise} Ten epochs (undergraduate: 3 points; graduate: 2 points)  points per track

  In the last form, a track the title does not name does not get the exercise.
- A chapter with a marked exercise gets a student notebook and an autograder archive per
  track (:func:`for_track` leaves out the exercises of other tracks, keeping their numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from nbformat import NotebookNode

from notebook_conventions import DIRECTIVE_RE, LABEL_RE

CONFIG_KEY = "resnetbook_tracks"
TRACK_NAME = re.compile(r"[a-z][a-z0-9-]*")
SUFFIX_RE = re.compile(r"\s*\((?P<spec>[^()]*\bpoints?)\)\s*$")
_N = r"(?P<n>\d+) points?"
EVERY_RE = re.compile(rf"{_N}")
ONLY_RE = re.compile(rf"(?P<names>[a-z][a-z0-9-]*(?: and [a-z][a-z0-9-]*)*) only, {_N}")
ENTRY_RE = re.compile(rf"(?P<name>[a-z][a-z0-9-]*): {_N}")
FORMS = "(N points), (TRACK only, N points) or (TRACK: N points; TRACK: M points)"
SKIPPED_TEXT = "This exercise is not part of the {track} track: skip it."
TRACK_NOTE = ("> **The {track} track.** This notebook holds the exercises of the {track} track; "
              "the others keep their numbers and say that you skip them.")


@dataclass(frozen=True)
class Points:
    """An exercise's points: ``every`` track gets the same, or only the tracks of ``by_track``."""

    every: int | None = None
    by_track: tuple[tuple[str, int], ...] = ()

    @property
    def tracks(self) -> tuple[str, ...] | None:
        """The tracks the exercise belongs to; None when it belongs to every track."""
        return None if self.every is not None else tuple(name for name, _ in self.by_track)

    @property
    def same(self) -> int | None:
        """The points when they are the same in every track that has the exercise, else None."""
        values = {self.every} if self.every is not None else {n for _, n in self.by_track}
        return values.pop() if len(values) == 1 else None

    def in_track(self, track: str | None) -> int | None:
        """The points in ``track`` (None: the book has no tracks); None when the track has no such exercise."""
        if self.every is not None:
            return self.every
        if track is None:
            raise ValueError(f"these points are per track ({self.by_track}): say which track")
        return dict(self.by_track).get(track)


def parse(title: str, where: str = "") -> Points | None:
    """The points at the end of an exercise title (see the module docstring); None when it gives none."""
    match = SUFFIX_RE.search(title)
    if match is None:
        return None
    spec = " ".join(match["spec"].split())
    if (every := EVERY_RE.fullmatch(spec)) is not None:
        return Points(every=int(every["n"]))
    if (only := ONLY_RE.fullmatch(spec)) is not None:
        names = only["names"].split(" and ")
        return Points(by_track=tuple((name, int(only["n"])) for name in _unique(names, title, where)))
    entries = [ENTRY_RE.fullmatch(part.strip()) for part in spec.split(";")]
    if all(entries):
        names = _unique([e["name"] for e in entries], title, where)
        return Points(by_track=tuple(zip(names, (int(e["n"]) for e in entries))))
    raise ValueError(f"{where}cannot read the points of the exercise title {title!r}: end it with {FORMS}")


def _unique(names: list[str], title: str, where: str) -> list[str]:
    if len(set(names)) != len(names):
        raise ValueError(f"{where}the exercise title {title!r} names a track twice")
    return names


def without_points(title: str) -> str:
    """The title without its points suffix: ``Slope and intercept``."""
    return SUFFIX_RE.sub("", title).strip()


def validate(points: Points | None, tracks: tuple[str, ...], where: str = "") -> None:
    """Raise ValueError when ``points`` name a track the book does not name."""
    if points is None or points.every is not None:
        return
    unknown = [name for name in points.tracks if name not in tracks]
    if not tracks:
        raise ValueError(f"{where}the exercise is marked for tracks {list(points.tracks)}, but _config.yml names "
                         f"no tracks: add `{CONFIG_KEY}: [...]` under sphinx: config:, or write (N points)")
    if unknown:
        raise ValueError(f"{where}the exercise names the track(s) {unknown}, which _config.yml does not name "
                         f"({CONFIG_KEY}: {list(tracks)})")


def checked_tracks(value: object) -> tuple[str, ...]:
    """The track names of the config value, checked: a list of distinct lowercase names (may be empty)."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and TRACK_NAME.fullmatch(v) for v in value):
        raise ValueError(f"{CONFIG_KEY} must be a list of track names in lowercase letters, digits and '-' "
                         f"(for example [undergraduate, graduate]), not {value!r}")
    if len(set(value)) != len(value) or len(value) == 1:
        raise ValueError(f"{CONFIG_KEY} must name two tracks or more, each once (or none at all), not {list(value)}")
    return tuple(value)


def book_tracks(root: Path) -> tuple[str, ...]:
    """The tracks ``root/_config.yml`` names under ``sphinx: config:``; () for a book without tracks."""
    path = root / "_config.yml"
    config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    return checked_tracks(((config.get("sphinx") or {}).get("config") or {}).get(CONFIG_KEY))


# ---------------------------------------------------------------- exercises in a notebook


def exercise_directives(notebook: NotebookNode) -> Iterator[tuple[NotebookNode, re.Match]]:
    """Each ``{exercise}`` directive of the notebook's markdown cells, with its cell, in order."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for match in DIRECTIVE_RE.finditer(cell.source):
                if match["name"] == "exercise":
                    yield cell, match


def chapter_tracks(notebook: NotebookNode, tracks: tuple[str, ...], where: str = "") -> tuple[str, ...]:
    """The tracks the chapter differs by: ``tracks`` when one of its exercises is marked, else ()."""
    marked = False
    for cell, match in exercise_directives(notebook):
        points = parse(match["arg"].strip(), f"{where}cell {cell.get('id')!r}: ")
        validate(points, tracks, f"{where}cell {cell.get('id')!r}: ")
        marked = marked or (points is not None and points.every is None)
    return tracks if marked else ()


def for_track(notebook: NotebookNode, track: str, where: str = "") -> NotebookNode:
    """The chapter as ``track``'s students get it: other tracks' exercises say so, and lose their solution and checks.

    The first markdown cell (the title) says which track the notebook is for. Each left-out
    exercise's heading stays, so the exercises keep the numbers the site gives them. Its
    solution (``solution-start`` to ``solution-end``, or a ``{solution}`` block) and the
    ``student-check`` cells right after it are left out.
    """
    import copy

    out = copy.deepcopy(notebook)
    skipped: set[str] = set()

    def mark(match: re.Match) -> str:
        if match["name"] == "solution" and match["arg"].strip() in skipped:
            return ""
        points = parse(match["arg"].strip(), where) if match["name"] == "exercise" else None
        if points is None or points.in_track(track) is not None:
            return match.group()
        skipped.update(LABEL_RE.findall(match["options"]))
        fence, body = match["fence"], SKIPPED_TEXT.format(track=track)
        return f"{fence}{{exercise}} {match['arg'].strip()}\n{match['options']}{body}\n{fence}\n"

    cells, inside, after_skipped = [], None, False
    for cell in out.cells:
        text = cell.source if cell.cell_type == "markdown" else ""
        if (start := re.search(r"\{solution-start\}[ \t]+(\S+)", text)) and start.group(1) in skipped:
            inside = start.group(1)
        if inside is not None:
            inside = None if "{solution-end}" in text else inside
            after_skipped = True
            continue
        if after_skipped and "student-check" in cell.metadata.get("tags", []):
            continue
        after_skipped = False
        if cell.cell_type == "markdown":
            before = set(skipped)
            cell.source = DIRECTIVE_RE.sub(mark, cell.source)
            after_skipped = skipped != before
        cells.append(cell)
    first = next((c for c in cells if c.cell_type == "markdown"), None)
    if first is not None:
        first.source = first.source.rstrip("\n") + "\n\n" + TRACK_NOTE.format(track=track)
    out.cells = cells
    return out
