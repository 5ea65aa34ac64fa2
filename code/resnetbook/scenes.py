"""Synthetic detection scenes: FashionMNIST items pasted on a black canvas, with their boxes (chapter 7).

A scene holds a few items, each resized to a random square side and pasted where it
overlaps no other item, so the boxes come for free: each box is the smallest rectangle
that holds the item's non-zero pixels, in torchvision's ``(x1, y1, x2, y2)`` pixel-edge
coordinates (an item covering columns 3..9 has ``x1 = 3, x2 = 10``). Labels follow
torchvision's detection convention: 0 is the background, so FashionMNIST class ``c``
is label ``c + 1`` and ``CATEGORIES[label]`` names it. Everything is drawn from a
``torch.Generator``: the same seed gives the same scenes on every machine.

The stand-in detector (:mod:`resnetbook.detection`) trains on scenes made from the
training images and is measured on scenes made from the test images (held out).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import masks_to_boxes

from resnetbook.data import CLASSES

CATEGORIES: tuple[str, ...] = ("__background__", *CLASSES)  # index = label, as torchvision's COCO lists


@dataclass(frozen=True)
class SceneConfig:
    """Canvas side, items per scene and the range of their sides, in pixels (chapter 7)."""

    size: int = 96
    min_items: int = 2
    max_items: int = 4
    min_side: int = 20
    max_side: int = 40
    tries: int = 50  # placements tried per item before a scene holds fewer items

    def __post_init__(self) -> None:
        if not 1 <= self.min_items <= self.max_items:
            raise ValueError(f"need 1 <= min_items <= max_items, got {self.min_items}, {self.max_items}")
        if not 1 <= self.min_side <= self.max_side <= self.size:
            raise ValueError(f"need 1 <= min_side <= max_side <= size, got {self.min_side}, "
                             f"{self.max_side}, {self.size}")


@dataclass(frozen=True)
class Scene:
    """One canvas: ``image`` uint8 ``[H, W]``, ``boxes`` float32 ``[K, 4]``, ``labels`` int64 ``[K]`` (chapter 7)."""

    image: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor

    def input(self) -> torch.Tensor:
        """The detector's input: float ``[3, H, W]`` in [0, 1], the gray canvas in all three channels."""
        return (self.image.float() / 255).expand(3, -1, -1).contiguous()

    def target(self) -> dict[str, torch.Tensor]:
        """The training target torchvision's detectors take: ``{"boxes", "labels"}``."""
        return {"boxes": self.boxes, "labels": self.labels}


def _overlaps(spot: tuple[int, int, int], taken: list[tuple[int, int, int]]) -> bool:
    """Whether the square ``(x, y, side)`` meets any square in ``taken``."""
    x, y, s = spot
    return any(x < tx + ts and tx < x + s and y < ty + ts and ty < y + s for tx, ty, ts in taken)


def _randint(low: int, high: int, generator: torch.Generator) -> int:
    """An integer in ``[low, high]``, both included."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def make_scene(images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
               config: SceneConfig = SceneConfig()) -> Scene:
    """One scene of items drawn from ``images`` (uint8 ``[N, 28, 28]``) and their ``labels`` (chapter 7)."""
    canvas = torch.zeros(config.size, config.size, dtype=torch.uint8)
    taken: list[tuple[int, int, int]] = []
    boxes, classes = [], []
    for _ in range(_randint(config.min_items, config.max_items, generator)):
        index = _randint(0, len(images) - 1, generator)
        side = _randint(config.min_side, config.max_side, generator)
        for _ in range(config.tries):
            spot = (_randint(0, config.size - side, generator), _randint(0, config.size - side, generator), side)
            if not _overlaps(spot, taken):
                break
        else:
            continue  # no free place for this item: the scene holds one item fewer
        item = F.interpolate(images[index][None, None].float(), size=(side, side), mode="bilinear",
                             antialias=True, align_corners=False)[0, 0].round().clamp(0, 255).to(torch.uint8)
        if not item.any():
            continue
        x, y, _ = spot
        canvas[y:y + side, x:x + side] = item
        taken.append(spot)
        box = masks_to_boxes((item > 0)[None])[0]  # inclusive pixel indices of the item
        boxes.append(box + torch.tensor([x, y, x + 1, y + 1], dtype=box.dtype))  # pixel edges
        classes.append(int(labels[index]) + 1)  # 0 is the background
    return Scene(canvas, torch.stack(boxes).float() if boxes else torch.zeros(0, 4),
                 torch.tensor(classes, dtype=torch.int64))


def make_scenes(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int,
                config: SceneConfig = SceneConfig()) -> list[Scene]:
    """``n`` scenes drawn with ``seed``: the same scenes for the same arguments (chapter 7)."""
    generator = torch.Generator().manual_seed(seed)
    return [make_scene(images, labels, generator, config) for _ in range(n)]


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int,
            config: SceneConfig = SceneConfig()) -> Iterator[tuple[list[torch.Tensor], list[dict]]]:
    """Endless batches of fresh scenes, as (inputs, targets) lists for a torchvision detector (chapter 7)."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        batch = [make_scene(images, labels, generator, config) for _ in range(batch_size)]
        yield [scene.input() for scene in batch], [scene.target() for scene in batch]
