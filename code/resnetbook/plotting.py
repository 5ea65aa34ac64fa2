"""Figures of chapter 5: sample images, learning curves, confusion matrix, mistakes, sweeps.

Every helper draws on a matplotlib ``Axes`` it is given (or on a grid of them)
and returns it; none calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes

from resnetbook.training import History


def image_grid(axes: np.ndarray, images: Sequence[torch.Tensor], titles: Sequence[str],
               colors: Sequence[str] | None = None) -> np.ndarray:
    """Show ``images`` on a grid of ``axes`` with one title each (chapter 5: samples, mistakes)."""
    flat = np.asarray(axes).ravel()
    if len(images) > len(flat) or len(titles) != len(images):
        raise ValueError(f"{len(images)} images, {len(titles)} titles for {len(flat)} axes")
    for i, ax in enumerate(flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i].detach().float().cpu().numpy().reshape(images[i].shape[-2:]), cmap="gray")
            ax.set_title(titles[i], fontsize=8, color=colors[i] if colors else "black")
    return axes


def learning_curves(ax: Axes, history: History, label: str = "") -> Axes:
    """Training and validation top-1 against epoch for one ``training.History`` (chapter 5)."""
    prefix = f"{label} " if label else ""
    line, = ax.plot(history.epoch, history.train_acc, "-", marker="o", ms=3, label=f"{prefix}train")
    ax.plot(history.epoch, history.val_acc, "--", color=line.get_color(), marker="s", ms=3,
            label=f"{prefix}validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("top-1 accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``[true, predicted]`` of a classifier's answers (chapter 5)."""
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {tuple(y_true.shape)} vs {tuple(y_pred.shape)}")
    index = y_true.cpu().long() * num_classes + y_pred.cpu().long()
    return torch.bincount(index, minlength=num_classes ** 2).view(num_classes, num_classes)


def plot_confusion(ax: Axes, matrix: torch.Tensor, classes: Sequence[str]) -> Axes:
    """Draw a confusion matrix with counts in the cells, rows = true class (chapter 5)."""
    ax.imshow(matrix.numpy(), cmap="Blues")
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(ticks, classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = matrix.max().item() / 2
    for (i, j), count in np.ndenumerate(matrix.numpy()):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=6,
                color="white" if count > high else "black")
    return ax


def sweep(ax: Axes, values: Sequence[float], train_acc: Sequence[float], val_acc: Sequence[float],
          name: str, baseline: tuple[float, float] | None = None, log: bool = False) -> Axes:
    """Final train/validation top-1 against a hyperparameter's value, with the baseline's as lines (chapter 5)."""
    if not len(values) == len(train_acc) == len(val_acc):
        raise ValueError("values, train_acc and val_acc must have the same length")
    ax.plot(values, train_acc, "o-", label="train")
    ax.plot(values, val_acc, "s--", label="validation")
    if baseline is not None:
        ax.axhline(baseline[0], color="C0", alpha=0.4, lw=1, label="baseline train")
        ax.axhline(baseline[1], color="C1", alpha=0.4, lw=1, ls="--", label="baseline validation")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(name)
    ax.set_ylabel("top-1 accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
