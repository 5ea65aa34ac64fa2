"""Synthetic detection scenes: the boxes are the pasted items' boxes, and the same seed gives the same scenes."""

from __future__ import annotations

import pytest
import torch

from resnetbook import scenes


def items(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Item ``i`` is a rectangle of value 20 (i + 1) on black, label ``i``: an item is known by its pixels."""
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for i in range(n):
        images[i, 3 + i % 4:22, 6:18 + i % 5] = 20 * (i + 1)
    return images, torch.arange(n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boxes_are_the_pasted_items(seed):
    images, labels = items()
    config = scenes.SceneConfig(size=96, min_items=2, max_items=4, min_side=20, max_side=40)
    for scene in scenes.make_scenes(images, labels, 20, seed, config):
        assert scene.image.shape == (96, 96) and scene.image.dtype == torch.uint8
        assert scene.boxes.shape == (len(scene.labels), 4) and 2 <= len(scene.labels) <= 4
        covered = torch.zeros_like(scene.image, dtype=torch.bool)
        for (x1, y1, x2, y2), label in zip(scene.boxes.int().tolist(), scene.labels.tolist()):
            inside = scene.image[y1:y2, x1:x2]
            # tight: the first and last rows and columns of the box hold item pixels
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            assert not covered[y1:y2, x1:x2].any(), "items do not overlap"
            covered[y1:y2, x1:x2] = True
            assert round(int(inside.max()) / 20) - 1 == label - 1, "label = the item's class + 1"
            assert 1 <= label <= 10
        assert not scene.image[~covered].any(), "every item pixel lies in a box"


def test_same_seed_same_scenes_other_seed_other_scenes():
    images, labels = items()
    a, b = (scenes.make_scenes(images, labels, 5, seed=3) for _ in range(2))
    c = scenes.make_scenes(images, labels, 5, seed=4)
    assert all(torch.equal(x.image, y.image) and torch.equal(x.boxes, y.boxes) for x, y in zip(a, b))
    assert not all(torch.equal(x.image, y.image) for x, y in zip(a, c))


def test_input_and_target_are_what_torchvision_detectors_take():
    images, labels = items()
    scene = scenes.make_scenes(images, labels, 1, seed=0)[0]
    x = scene.input()
    assert x.shape == (3, 96, 96) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x[0], x[2]) and torch.allclose(x[1] * 255, scene.image.float())
    assert set(scene.target()) == {"boxes", "labels"} and scene.target()["labels"].dtype == torch.int64


def test_batches_are_fresh_scenes():
    images, labels = items()
    stream = scenes.batches(images, labels, batch_size=4, seed=0)
    (x1, t1), (x2, _) = next(stream), next(stream)
    assert len(x1) == len(t1) == 4 and not torch.equal(torch.stack(x1), torch.stack(x2))


def test_a_crowded_canvas_holds_fewer_items_rather_than_overlapping():
    images, labels = items()
    config = scenes.SceneConfig(size=40, min_items=4, max_items=4, min_side=20, max_side=20, tries=20)
    for scene in scenes.make_scenes(images, labels, 10, seed=0, config=config):
        assert 1 <= len(scene.labels) <= 4
        area = ((scene.boxes[:, 2] - scene.boxes[:, 0]) * (scene.boxes[:, 3] - scene.boxes[:, 1])).sum()
        assert area <= 40 * 40


@pytest.mark.parametrize("bad", [dict(min_items=0), dict(min_items=3, max_items=2), dict(min_side=50, max_side=40),
                                 dict(max_side=200)])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ValueError):
        scenes.SceneConfig(**bad)


def test_categories_put_the_background_first():
    assert scenes.CATEGORIES[0] == "__background__" and scenes.CATEGORIES[1] == "T-shirt/top"
    assert len(scenes.CATEGORIES) == 11
