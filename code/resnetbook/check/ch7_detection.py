"""Self-checks for chapter 7's detection exercise: captions "class score", and boxes drawn with them.

``box_captions`` is checked against captions written out by hand; ``draw_detections``
by watching its call of ``torchvision.utils.draw_bounding_boxes`` (which boxes, which
captions) and by the pixels it returns: the kept boxes' outlines drawn, the rest of the
image and the caller's image left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from unittest import mock

import torch
import torchvision.utils

from resnetbook.check._base import call, expect, passed

CATEGORIES = ("__background__", "cat", "dog", "bus", "car")


# ---------------------------------------------------------------- ch7-scores: captions


def _caption_problem(got: list[str], want: list[str]) -> str:
    """The usual mistake behind captions ``got`` instead of ``want``, in words."""
    first, expected = got[0], want[0]
    if "tensor(" in first:
        return "a caption shows a tensor: turn labels and scores into Python numbers first (.tolist() or .item())"
    name = expected.rsplit(" ", 1)[0]
    if first != name and not first.startswith(name + " "):
        if first.split(" ")[0].isdigit():
            return (f"the caption starts with the label's number ({first!r}); look its name up in "
                    f"categories: categories[label]")
        return (f"the caption names {first.rsplit(' ', 1)[0]!r} for a box labelled {name!r}: categories[label] "
                "is the label's name (index 0 is the background, so do not shift the label by one)")
    return (f"the score should follow the name with two decimals (f'{{score:.2f}}'), "
            f"e.g. {expected!r}, not {first!r}")


def box_captions(fn: Callable[[torch.Tensor, torch.Tensor, Sequence[str]], list[str]]) -> None:
    """Check ``box_captions(labels, scores, categories)``: one ``"name 0.97"`` per box (ch7-scores)."""
    name = "box_captions"
    cases = [
        (torch.tensor([1, 3]), torch.tensor([0.9731, 0.5]), ["cat 0.97", "bus 0.50"]),
        (torch.tensor([4, 2, 2]), torch.tensor([0.996, 0.004, 0.125]), ["car 1.00", "dog 0.00", "dog 0.12"]),
        (torch.zeros(0, dtype=torch.int64), torch.zeros(0), []),
    ]
    for labels, scores, want in cases:
        case = f"box_captions(labels={labels.tolist()}, scores={[round(s, 4) for s in scores.tolist()]}, categories)"
        before = (labels.clone(), scores.clone())
        got = call(name, case, fn, labels, scores, CATEGORIES)
        expect(isinstance(got, list) and all(isinstance(c, str) for c in got), name,
               f"{case} returned {type(got).__name__}; return a list of strings, one caption per box")
        expect(len(got) == len(want), name, f"{case} returned {len(got)} captions for {len(want)} boxes")
        expect(torch.equal(labels, before[0]) and torch.equal(scores, before[1]), name,
               f"{case} changed its arguments; leave them as they are")
        expect(got == want, name, f"{case} returned {got}, expected {want}: " + _caption_problem(got, want)
               if got != want else "")
    passed(name, len(cases))


# ---------------------------------------------------------------- ch7-scores: drawing


@contextlib.contextmanager
def watching_draw_calls(fn: Callable) -> Iterator[list[tuple[torch.Tensor, list[str] | None]]]:
    """Record ``(boxes, labels)`` of every ``draw_bounding_boxes`` call ``fn`` makes in the block.

    Both names a notebook may use are watched: ``torchvision.utils.draw_bounding_boxes``
    and a ``draw_bounding_boxes`` imported into ``fn``'s module (the notebook).
    """
    real = torchvision.utils.draw_bounding_boxes
    calls: list[tuple[torch.Tensor, list[str] | None]] = []

    def spy(image, boxes, labels=None, *args, **kwargs):
        calls.append((torch.as_tensor(boxes).detach().clone(), None if labels is None else list(labels)))
        return real(image, boxes, labels, *args, **kwargs)

    namespace = getattr(fn, "__globals__", {})
    imported = namespace.get("draw_bounding_boxes") is real
    with mock.patch.object(torchvision.utils, "draw_bounding_boxes", spy), \
            (mock.patch.dict(namespace, {"draw_bounding_boxes": spy}) if imported else contextlib.nullcontext()):
        yield calls


def _outline(image: torch.Tensor, box: Sequence[float]) -> torch.Tensor:
    """The pixels of ``image`` [C, H, W] on the one-pixel outline of ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    return torch.cat([image[:, y1, x1:x2 + 1], image[:, y2, x1:x2 + 1], image[:, y1:y2 + 1, x1],
                      image[:, y1:y2 + 1, x2]], dim=1)


def _draw_cases() -> list[tuple[str, dict, float, list[int], list[str]]]:
    """(what, detections, threshold, indices of the boxes to draw, their captions)."""
    boxes = torch.tensor([[5.0, 5, 75, 40], [85, 5, 155, 40], [5, 45, 75, 75], [85, 45, 155, 75]])
    detections = {"boxes": boxes, "labels": torch.tensor([1, 2, 3, 4]),
                  "scores": torch.tensor([0.91, 0.3, 0.5, 0.4999])}
    return [
        ("four boxes scoring 0.91, 0.3, 0.5 and 0.4999, threshold 0.5", detections, 0.5, [0, 2],
         ["cat 0.91", "bus 0.50"]),
        ("the same boxes, threshold 0.25", detections, 0.25, [0, 1, 2, 3],
         ["cat 0.91", "dog 0.30", "bus 0.50", "car 0.50"]),
        ("the same boxes, threshold 0.95 (none scores that much)", detections, 0.95, [], []),
    ]


def _drawn_problem(drawn: set, want: set, detections: dict, threshold: float) -> str:
    """What went wrong when the boxes drawn are not the ones scoring at least ``threshold``."""
    rows = [tuple(b) for b in detections["boxes"].tolist()]
    strict = {r for r, s in zip(rows, detections["scores"].tolist()) if s > threshold}
    if drawn == strict:
        return "a box whose score equals the threshold is missing: keep scores >= threshold"
    if drawn == set(rows):
        return "every box was drawn: keep only the detections whose score is at least threshold"
    return f"drew {len(drawn)} of the boxes, expected {len(want)}: those whose score is at least threshold"


def draw_detections(fn: Callable[[torch.Tensor, dict, Sequence[str], float], torch.Tensor]) -> None:
    """Check ``draw_detections(image, detections, categories, threshold)`` (ch7-scores)."""
    name = "draw_detections"
    image = torch.full((3, 80, 160), 60, dtype=torch.uint8)
    image[:, 60:, :] = 120  # not one flat colour: a box drawn in gray would still show
    cases = _draw_cases()
    for what, detections, threshold, kept, captions in cases:
        case = f"draw_detections(image, detections, categories, threshold={threshold}) with {what}"
        given = image.clone()
        with watching_draw_calls(fn) as calls:
            out = call(name, case, fn, given, detections, CATEGORIES, threshold)
        expect(isinstance(out, torch.Tensor), name, f"{case} returned {type(out).__name__}; return the image tensor "
               "that draw_bounding_boxes gives")
        expect(out.dtype == torch.uint8 and out.shape == image.shape, name,
               f"{case} returned {out.dtype} of shape {tuple(out.shape)}, expected uint8 {tuple(image.shape)}")
        expect(torch.equal(given, image), name, f"{case} changed the image it was given; draw on a copy "
               "(draw_bounding_boxes returns a new image)")
        want = {tuple(detections["boxes"][i].tolist()) for i in kept}
        drawn = {tuple(b) for boxes, _ in calls for b in boxes.tolist()}
        if want:
            expect(bool(calls), name, f"{case}: draw_bounding_boxes was not called (the check watches "
                   "draw_bounding_boxes and torchvision.utils.draw_bounding_boxes)")
        expect(drawn == want, name, f"{case}: " + _drawn_problem(drawn, want, detections, threshold)
               if drawn != want else "")
        labels = [label for _, ls in calls for label in (ls or [])]
        expect(all(ls is not None for _, ls in calls), name,
               f"{case}: the boxes were drawn without captions; pass them as labels=... to draw_bounding_boxes")
        expect(sorted(labels) == sorted(captions), name, f"{case}: the captions were {labels}, expected "
               f"{captions} ('name score', the score with two decimals)" if sorted(labels) != sorted(captions) else "")
        for i, row in enumerate(detections["boxes"].tolist()):
            changed = bool((_outline(out, row) != _outline(image, row)).any())
            expect(changed == (i in kept), name, f"{case}: the returned image "
                   + ("does not show box {i}'s outline: return draw_bounding_boxes' result".format(i=i)
                      if i in kept else f"shows box {i}, which scores below the threshold"))
    passed(name, len(cases))
