"""Hidden cases of chapter 7: detection (COCO's category list, many boxes, other thresholds and
images) and the browser demo's top_k (other class counts, k and magnitudes).

The public checks (resnetbook.check.ch7_detection) use five made-up categories and four
boxes; these use torchvision's COCO categories (with their ``N/A`` gaps), boxes on a grid,
random scores and labels, and random images of other sizes. ``draw_detections`` is compared on which
boxes' outlines the returned image shows (colours and line widths are the student's choice).
The public check of top_k (resnetbook.check.ch7_browser) uses five classes; these use ten and a
thousand.
"""

from __future__ import annotations

import torch
from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

from bookgrader.cases import Case

COCO = tuple(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def _detections(seed: int, rows: int, columns: int) -> dict[str, torch.Tensor]:
    """One box per cell of a grid of 120x40 cells (apart, and wide enough for any caption),
    COCO labels (never background or N/A) and random scores, best first as a detector returns them."""
    g = torch.Generator().manual_seed(7000 + seed)
    named = torch.tensor([i for i, c in enumerate(COCO) if c not in ("__background__", "N/A")])
    n = rows * columns
    cells = torch.tensor([[120 * c, 40 * r] for r in range(rows) for c in range(columns)])
    start = cells + torch.randint(1, 6, (n, 2), generator=g)
    end = cells + torch.tensor([118, 38]) - torch.randint(0, 5, (n, 2), generator=g)
    scores = torch.rand(n, generator=g)
    order = torch.argsort(scores, descending=True)
    return {"boxes": torch.cat([start, end], 1).float()[order],
            "labels": named[torch.randint(0, len(named), (n,), generator=g)][order], "scores": scores[order]}


def _captions_args(seed: int, rows: int, columns: int) -> tuple:
    d = _detections(seed, rows, columns)
    return d["labels"], d["scores"], COCO


def _image(seed: int, width: int, height: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(7100 + seed)
    return torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8)


def _draw_args(seed: int, rows: int, columns: int, threshold: float) -> tuple:
    return _image(seed, 120 * columns, 40 * rows), _detections(seed, rows, columns), COCO, threshold


def _outlines_shown(out: object, args: tuple) -> list[bool]:
    """Per box: whether any pixel of its one-pixel outline differs from the given image."""
    image, detections = args[0], args[1]
    if not isinstance(out, torch.Tensor) or out.shape != image.shape:
        return [f"returned {type(out).__name__}"]  # never equal to the reference's list of booleans
    shown = []
    for x1, y1, x2, y2 in detections["boxes"].int().tolist():
        edge = [(slice(None), y1, slice(x1, x2 + 1)), (slice(None), y2, slice(x1, x2 + 1)),
                (slice(None), slice(y1, y2 + 1), x1), (slice(None), slice(y1, y2 + 1), x2)]
        shown.append(any(bool((out[e] != image[e]).any()) for e in edge))
    return shown


def _top_k_args(seed: int, n: int, k: int, scale: float, shift: float) -> tuple:
    g = torch.Generator().manual_seed(7000 + seed)
    return (torch.randn(n, generator=g) * scale + shift, [f"class {i}" for i in range(n)], k)


CASES = {
    "top_k": [
        Case("ten classes, k=5", lambda: _top_k_args(1, 10, 5, 2.0, 0.0)),
        Case("a thousand classes with logits near 50, k=3", lambda: _top_k_args(2, 1000, 3, 4.0, 50.0)),
    ],
    "box_captions": [
        Case("12 COCO detections", lambda: _captions_args(1, 3, 4)),
        Case("one COCO detection", lambda: _captions_args(2, 1, 1)),
    ],
    "draw_detections": [
        Case("a 360x80 image with 6 boxes, threshold 0.5", lambda: _draw_args(3, 2, 3, 0.5), _outlines_shown),
        Case("a 240x200 image with 10 boxes, threshold 0.2", lambda: _draw_args(4, 5, 2, 0.2), _outlines_shown),
    ],
}
