"""Drawing detections on small scenes so that a reader can read them (chapter 7).

:func:`for_display` brings a scene or a photo and its boxes to one width (with room on the right
for captions, see :func:`caption_overflow`), :func:`caption_style` gives ``draw_bounding_boxes`` legible captions,
and :func:`show` draws a scene with thin outlines and the count of boxes in each overlapping
group (:func:`clusters`), as non-maximum suppression sees them. ``resnetbook.detection``
re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.axes import Axes
from torchvision.ops import box_iou

Detections = dict[str, torch.Tensor]


DISPLAY_SIZE = 288  # pixels: a 96-pixel scene three times, pixel for pixel


def enlarged(image: torch.Tensor, detections: Detections, factor: int) -> tuple[torch.Tensor, Detections]:
    """``image`` (uint8 ``[3, H, W]``) and its detections ``factor`` times larger, pixel for pixel, so
    that what is drawn on a small scene stays legible (chapter 7)."""
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    big = image.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)
    return big, {**detections, "boxes": detections["boxes"] * factor}


def for_display(image: torch.Tensor, detections: Detections, size: int = DISPLAY_SIZE,
                margin: int = 0) -> tuple[torch.Tensor, Detections]:
    """``image`` (uint8 ``[3, H, W]``) and its detections resized to fit a ``size`` x ``size`` square,
    its longer side ``size`` pixels, so that captions drawn at a fixed size read alike on a small scene
    and on a large photo of any shape, with ``margin`` black pixels added on the right for captions
    that start near the edge (chapter 7).

    A whole-number enlargement copies pixels (:func:`enlarged`: a small scene stays crisp); any
    other size is resampled smoothly (antialiased when shrinking a photo).
    """
    from torchvision.transforms.v2 import functional as TF

    longer = max(image.shape[-2:])
    if size % longer == 0:
        big, detections = enlarged(image, detections, size // longer)
    else:
        factor = size / longer
        big = TF.resize(image, [round(image.shape[-2] * factor), round(image.shape[-1] * factor)], antialias=True)
        detections = {**detections, "boxes": detections["boxes"] * factor}
    return torch.nn.functional.pad(big, (0, margin)), detections


def caption_overflow(width: int, boxes: torch.Tensor, captions: Sequence[str], font_size: int = 16) -> int:
    """How many pixels the widest caption that ``draw_bounding_boxes`` writes at each box's top-left
    corner, in :func:`caption_style`'s font, reaches past an image ``width`` pixels wide (chapter 7)."""
    from PIL import ImageFont

    font = ImageFont.truetype(caption_style(font_size)["font"], font_size)
    ends = [float(box[0]) + font.getlength(caption) + 2 for box, caption in zip(boxes, captions)]
    return max(0, int(max(ends, default=0) - width) + 1)


def caption_style(font_size: int = 16) -> dict:
    """Keyword arguments for ``draw_bounding_boxes`` that make box captions legible on any garment:
    DejaVu Sans (matplotlib's font) at ``font_size`` pixels, white on a dark red label (contrast
    over 7:1), chapter 7, which asserts with ``figures.image_text_px`` that its captions show at
    9 pixels or more on the page."""
    from matplotlib import font_manager

    return {"font": font_manager.findfont("DejaVu Sans"), "font_size": font_size, "fill_labels": True,
            "label_colors": "white", "label_background_colors": "#a50f15"}


def show(ax: Axes, image: torch.Tensor, title: str | None = None, boxes: torch.Tensor | None = None,
         iou_threshold: float = 0.5) -> Axes:
    """A uint8 ``[3, H, W]`` image (e.g. from ``draw_bounding_boxes``) on ``ax``, without ticks (chapter 7).

    With ``boxes`` (``[K, 4]``, best first), each box is drawn as a thin outline of its own
    colour, and each group of boxes that overlap the group's first one by more than
    ``iou_threshold`` (the clusters NMS works on, across classes) gets its count written
    at its corner: boxes of one object nearly coincide, and only the count tells them apart.
    """
    ax.imshow(image.permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=12)
    if boxes is not None and len(boxes):
        _outline(ax, boxes.float(), iou_threshold)
    return ax


def clusters(boxes: torch.Tensor, iou_threshold: float = 0.5) -> list[list[int]]:
    """Greedy groups of ``boxes`` (best first): each group is a box and the later boxes overlapping it by more
    than ``iou_threshold``, whatever their class (chapter 7)."""
    iou, free, groups = box_iou(boxes, boxes), torch.ones(len(boxes), dtype=torch.bool), []
    for i in range(len(boxes)):
        if free[i]:
            members = torch.nonzero(free & (iou[i] > iou_threshold)).flatten().tolist()
            members = [i] + [j for j in members if j != i]
            free[members] = False
            groups.append(members)
    return groups


def _outline(ax: Axes, boxes: torch.Tensor, iou_threshold: float) -> None:
    from matplotlib.patches import Rectangle

    colors = [f"C{i % 10}" for i in range(len(boxes))]
    for (x1, y1, x2, y2), color in zip(boxes.tolist(), colors):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1))
    for group in clusters(boxes, iou_threshold):
        x1, y1 = boxes[group[0], :2].tolist()
        ax.text(x1 + 2, y1 + 2, f"{len(group)} box{'es' if len(group) > 1 else ''}", va="top", fontsize=9,
                color="black", bbox={"facecolor": "white", "alpha": 0.85, "pad": 1, "edgecolor": "none"})
