"""Data as tensors, batches, augmentation, history and accuracy (chapter 5's teaching loop).

Chapter 5's students write the plain loop themselves (``train``, ``get_prediction``,
``evaluate``, in the chapter's scaffold cells; ``resnetbook.check`` checks them). This
module holds what that loop reads around them: the splits as in-memory tensors
(``make_splits``), ``batches``, batched augmentation (``augment``), the ``History`` of a
run, and ``accuracy``, the package's one evaluation function (also used by the fast
engine in ``resnetbook.engine``, the stand-ins and the benchmark).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from resnetbook.device import get_device
from resnetbook.precision import autocast


# ---------------------------------------------------------------- data as tensors


@dataclass
class Splits:
    """Normalized images ``[N,1,28,28]`` and labels of train, validation and test (chapter 5)."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    mean: float
    std: float


def normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 ``[N,28,28]`` -> float ``[N,1,28,28]``, scaled to [0,1] then standardized (chapter 5)."""
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise ValueError(f"expected uint8 images [N,H,W], got {images.dtype} {tuple(images.shape)}")
    return images.float().div_(255).sub_(mean).div_(std).unsqueeze(1)  # in place: one float copy at a time


def pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of uint8 ``images`` scaled to [0, 1] (chapters 5, 6), with one float copy."""
    pixels = images.float().div_(255)
    return pixels.mean().item(), pixels.std().item()


def make_splits(dataset, val_size: int = 10_000, seed: int = 0,
                device: torch.device | str | None = None) -> Splits:
    """Hold out ``val_size`` random training images for validation; normalize with train statistics.

    ``dataset`` is what ``resnetbook.data.load_fashion_mnist()`` returns (chapter 5, stand-ins).
    The test set stays untouched until the very end of a chapter.
    """
    n = len(dataset.train_labels)
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n}), got {val_size}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train_idx, val_idx = order[: n - val_size], order[n - val_size:]
    mean, std = pixel_stats(dataset.train_images[train_idx])
    device = torch.device(device) if device is not None else get_device()

    def prep(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return normalize(images, mean, std).to(device), labels.to(device)

    return Splits(*prep(dataset.train_images[train_idx], dataset.train_labels[train_idx]),
                  *prep(dataset.train_images[val_idx], dataset.train_labels[val_idx]),
                  *prep(dataset.test_images, dataset.test_labels), mean, std)


def batches(X: torch.Tensor, y: torch.Tensor, batch_size: int = 256, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(X, y)`` mini-batches of in-memory tensors, shuffled if asked (chapter 5)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if len(X) != len(y):
        raise ValueError(f"X and y differ in length: {len(X)} vs {len(y)}")
    order = torch.randperm(len(X), generator=generator).to(X.device) if shuffle else None
    for start in range(0, len(X), batch_size):
        idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
        yield X[idx], y[idx]


# ---------------------------------------------------------------- batched augmentation


def random_crop(X: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by up to ``padding`` pixels (zero-pad, then crop), all in one gather (chapter 5)."""
    if padding == 0:
        return X
    n, _, h, w = X.shape
    padded = F.pad(X, (padding,) * 4, value=float(X.min()))  # pad with the background value
    dy, dx = (torch.randint(0, 2 * padding + 1, (2, n, 1, 1), generator=generator)
              .to(X.device).unbind(0))
    rows = dy + torch.arange(h, device=X.device).view(1, h, 1)
    cols = dx + torch.arange(w, device=X.device).view(1, 1, w)
    batch = torch.arange(n, device=X.device).view(n, 1, 1)
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(X: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the images left-right (clothes stay clothes when mirrored; chapter 5)."""
    flip = (torch.rand(len(X), generator=generator) < 0.5).to(X.device).view(-1, 1, 1, 1)
    return torch.where(flip, X.flip(-1), X)


def augment(X: torch.Tensor, padding: int = 2, flip: bool = True,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop (via padding) and horizontal flip of a whole batch (chapter 5, engine)."""
    X = random_crop(X, padding, generator)
    return random_flip(X, generator) if flip else X


# ---------------------------------------------------------------- history and evaluation


@dataclass
class History:
    """A training run, one entry per evaluation (chapter 5, engine).

    ``epoch`` may be fractional; ``seconds`` is wall time since the start.
    """

    epoch: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def record(self, epoch: float, train_loss: float, train_acc: float, val_acc: float,
               seconds: float) -> None:
        """Append one evaluation's values (chapter 5's loop, ``engine.fit``)."""
        self.epoch.append(epoch)
        self.train_loss.append(train_loss)
        self.train_acc.append(train_acc)
        self.val_acc.append(val_acc)
        self.seconds.append(seconds)

    def time_to(self, accuracy: float) -> float:
        """Seconds until validation accuracy first reached ``accuracy`` (``inf`` if never; benchmark)."""
        return next((s for s, a in zip(self.seconds, self.val_acc) if a >= accuracy), math.inf)


@torch.no_grad()
def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, tta: bool = False,
             amp: bool = True, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` in eval mode over in-memory tensors (chapter 5, engine, stand-ins, benchmark).

    With ``tta``, the logits are averaged with those of the mirrored images; ``amp`` runs
    in the mixed precision of ``resnetbook.precision``. Inputs follow the model's memory
    format (``channels_last`` for the engine's networks). Batches of 256 stay in a CPU's
    caches: measured with the engine's network, 10,000 images with TTA took 0.8 s in
    batches of 256 and 1.6-2.0 s in batches of 1024.
    """
    if len(X) == 0:
        raise ValueError("no images to measure accuracy on")
    model.eval()
    device = next(model.parameters()).device
    channels_last = _is_channels_last(model)
    correct = 0
    for xb, yb in batches(X, y, batch_size):
        xb = xb.to(device)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            logits = model(xb).float()
            if tta:
                logits = logits + model(xb.flip(-1)).float()  # the sum: same argmax as the mean
        correct += (logits.argmax(1) == yb.to(device)).sum().item()
    return correct / len(X)


def _is_channels_last(model: nn.Module) -> bool:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv is not None and conv.weight.is_contiguous(memory_format=torch.channels_last)
