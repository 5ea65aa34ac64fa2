"""The example inputs a loaded model comes with: photos, the Places365 photo, FashionMNIST images (chapters 2-4).

Each registry entry of :mod:`resnetbook.weights` names one of these sources;
``Pretrained.examples(n)`` calls it with the model's preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import torch
from PIL import Image as PILImage

from resnetbook import data
from resnetbook.images import Preprocess
from resnetbook.remote import RemoteFile, fetch_file, located

Box = tuple[float, float, float, float]  # top, bottom, left, right, as fractions of height and width


@dataclass(frozen=True)
class Example:
    """One example input: ``image`` to display, ``input`` to feed the model.

    ``credit`` says where the image comes from (markdown, for the page);
    ``regions`` names boxes of the image by what they show, drawn by hand for
    that one file (chapter 4 ranks units by their activation inside them).
    """

    name: str
    image: np.ndarray
    input: torch.Tensor
    label: int | None = None
    credit: str | None = None
    regions: Mapping[str, Box] = field(default_factory=dict)


ExampleSource = Callable[[int, Preprocess], list[Example]]


def photo_examples(n: int, preprocess: Preprocess) -> list[Example]:
    """Up to ``n`` natural photos from scikit-image, without labels (ImageNet weights)."""
    photos = list(data.sample_images().items())[:n]
    return [Example(name, image, preprocess(image)) for name, image in photos]


# The Places365 authors' sample photo (their docker demo): sky, snow-capped peaks, a valley.
PLACES365_PHOTO = RemoteFile(
    "https://raw.githubusercontent.com/CSAILVision/places365/06218620d593de09ac4f9f39b72ea0d175990a24/"
    "docker/images/mountains.jpg",
    "mountains.jpg", "0092e75ff5c21dd19ef8ceed3bb21f1b25c012d8d810b359ed5b63677dff605f")
PLACES365_PHOTO_CREDIT = (
    "the sample photo in the Places365 authors' repository "
    "[CSAILVision/places365](https://github.com/CSAILVision/places365) (MIT License)")
# Drawn by hand on this photo (the file with the sha256 above) over an 8 x 8 grid: each box
# holds only what its name says. Row 0 left of column 2 is a mountain side, not sky; the right
# three columns below the peaks are a forested slope, not the valley floor.
PLACES365_PHOTO_REGIONS: dict[str, Box] = {
    "sky": (0.0, 1 / 8, 1 / 4, 1.0),
    "snow-capped peaks": (1 / 8, 3 / 8, 5 / 8, 7 / 8),
    "valley floor": (1 / 2, 1.0, 0.0, 5 / 8),
}


def places365_photo_examples(n: int, preprocess: Preprocess) -> list[Example]:
    """The Places365 authors' ``mountains.jpg`` with its named regions: one example (chapter 4)."""
    path = fetch_file(located([PLACES365_PHOTO])[0], progress=False)
    with PILImage.open(path) as photo:
        image = np.array(photo.convert("RGB"), dtype=np.uint8)  # writable, for torch
    return [Example(PLACES365_PHOTO.filename, image, preprocess(image), credit=PLACES365_PHOTO_CREDIT,
                    regions=dict(PLACES365_PHOTO_REGIONS))][:n]


def fashion_examples(n: int, preprocess: Preprocess) -> list[Example]:
    """The first ``n`` FashionMNIST test images with their labels (stand-in weights)."""
    dataset = data.load_fashion_mnist()
    images = torch.as_tensor(dataset.test_images[:n]).numpy().copy()
    labels = torch.as_tensor(dataset.test_labels[:n]).tolist()
    return [Example(f"test image {i}", image, preprocess(image), label)
            for i, (image, label) in enumerate(zip(images, labels))]
