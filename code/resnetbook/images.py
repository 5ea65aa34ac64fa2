"""Images in, tensors out: the conversions and preprocessing of the book's models (chapters 2-4).

An image is a uint8 array, PIL image or tensor, HxW or HxWxC (C = 1, 3, 4); each
model's preprocessing turns one into the tensor that model expects.
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
import torch
import torchvision
from PIL import Image as PILImage
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Image = Union[np.ndarray, PILImage.Image, torch.Tensor]
Preprocess = Callable[[Image], torch.Tensor]


def _as_uint8_array(image: Image) -> np.ndarray:
    """Return an HxW or HxWxC (C = 1, 3, 4) uint8 array; raise ValueError otherwise."""
    if isinstance(image, PILImage.Image):
        image = image if image.mode in ("L", "RGB", "RGBA") else image.convert("RGB")
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (values 0-255), got dtype {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)):
        return array
    raise ValueError(f"expected an HxW or HxWx3 image, got shape {tuple(array.shape)}")


def to_rgb_tensor(image: Image) -> torch.Tensor:
    """An image as a uint8 Tensor[3,H,W]: gray is repeated, alpha dropped (chapters 2, 4)."""
    array = _as_uint8_array(image)
    if array.ndim == 2:
        array = array[:, :, None]
    array = np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def to_gray_tensor(image: Image) -> torch.Tensor:
    """An image as a float Tensor[1,H,W] in [0,1], with ITU-R 601 luma like PIL's "L" (chapters 2, 4)."""
    array = _as_uint8_array(image).astype(np.float32) / 255
    if array.ndim == 3:
        array = array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3] @ np.float32([0.299, 0.587, 0.114])
    return torch.from_numpy(np.ascontiguousarray(array))[None]


def torchvision_preprocess(weights: torchvision.models.WeightsEnum) -> Preprocess:
    """Preprocessing of a torchvision weight enum (resize 256, crop 224, normalize)."""
    transforms = weights.transforms()
    return lambda image: transforms(to_rgb_tensor(image))


def places365_preprocess(image: Image) -> torch.Tensor:
    """Resize to 256x256 and normalize like ImageNet: Tensor[3,256,256] (chapter 4: 2048x8x8 maps)."""
    pixels = TF.resize(to_rgb_tensor(image), [256, 256], antialias=True)
    return TF.normalize(pixels.float() / 255, IMAGENET_MEAN, IMAGENET_STD)


def fashion_preprocess(mean: float, std: float) -> Preprocess:
    """Grayscale, 28x28, [0,1], normalized with the stand-in's own mean/std: Tensor[1,28,28]."""

    def preprocess(image: Image) -> torch.Tensor:
        gray = to_gray_tensor(image)
        if gray.shape[1:] != (28, 28):
            gray = TF.resize(gray, [28, 28], antialias=True)
        return (gray - mean) / std

    return preprocess
