"""Figures of chapter 5: sample images, learning curves, confusion matrix, mistakes, sweeps.

Every helper draws on a matplotlib ``Axes`` it is given (or on a grid of them)
and returns it; none calls ``plt.show()``: the chapter shows the figure with
``resnetbook.figures.show``, which refuses text too small to read on the page.
Train and validation differ by colour-blind-safe colour, line style and marker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from resnetbook.training import History


def image_grid(axes: np.ndarray, images: Sequence[torch.Tensor], titles: Sequence[str],
               colors: Sequence[str] | None = None, fontsize: float = 10) -> np.ndarray:
    """Show ``images`` on a grid of ``axes`` with one title each (chapter 5: samples, mistakes)."""
    flat = np.asarray(axes).ravel()
    if len(images) > len(flat) or len(titles) != len(images):
        raise ValueError(f"{len(images)} images, {len(titles)} titles for {len(flat)} axes")
    for i, ax in enumerate(flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i].detach().float().cpu().numpy().reshape(images[i].shape[-2:]), cmap="gray")
            ax.set_title(titles[i], fontsize=fontsize, color=colors[i] if colors else "black")
    return axes


def learning_curves(ax: Axes, history: History, label: str = "",
                    which: Sequence[str] = ("train", "validation")) -> Axes:
    """Top-1 against epoch for one ``training.History``: ``which`` of train and validation (chapter 5).

    Train is solid with circles, validation dashed with squares; epochs are whole numbers.
    """
    unknown = set(which) - {"train", "validation"}
    if unknown or not which:
        raise ValueError(f"which must name 'train' and/or 'validation', got {list(which)}")
    prefix = f"{label} " if label else ""
    color = None
    for part in which:
        values, style, marker = (history.train_acc, "-", "o") if part == "train" else (history.val_acc, "--", "s")
        line, = ax.plot(history.epoch, values, style, marker=marker, ms=4, color=color, label=f"{prefix}{part}")
        color = line.get_color()
    _epoch_axis(ax)
    ax.set_ylabel("top-1 accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10)
    return ax


def _epoch_axis(ax: Axes) -> None:
    """Label the x axis "epoch", ticks at whole epochs only."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


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
    ax.set_xticks(ticks, classes, rotation=60, ha="right", fontsize=10)
    ax.set_yticks(ticks, classes, fontsize=10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = matrix.max().item() / 2
    for (i, j), count in np.ndenumerate(matrix.numpy()):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=9,
                color="white" if count > high else "black")
    return ax


def sweep(ax: Axes, values: Sequence[float], train_acc: Sequence[float], val_acc: Sequence[float],
          name: str, baseline_value: float | None = None, log: bool = False) -> Axes:
    """Final train/validation top-1 against a hyperparameter's value (chapter 5).

    ``baseline_value``, when one of ``values``, is the baseline's setting: its two points are
    ringed and named in the legend (the baseline is one of the runs, drawn once).
    """
    if not len(values) == len(train_acc) == len(val_acc):
        raise ValueError("values, train_acc and val_acc must have the same length")
    ax.plot(values, train_acc, "o-", color="C0", label="train")
    ax.plot(values, val_acc, "s--", color="C1", label="validation")
    if baseline_value is not None:
        if baseline_value not in values:
            raise ValueError(f"baseline_value {baseline_value} is not one of the values {list(values)}")
        i = list(values).index(baseline_value)
        ax.plot([baseline_value] * 2, [train_acc[i], val_acc[i]], "o", ms=12, mfc="none", mec="0.2",
                mew=1.5, label=f"baseline ({name}={baseline_value:g})")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(name)
    ax.set_ylabel("top-1 accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10)
    return ax


def sweep_curves(ax: Axes, runs: dict[float, History], name: str, baseline_value: float | None = None) -> Axes:
    """Each run's train (solid) and validation (dashed, hollow markers) top-1 against epoch, one
    colour and marker per value of ``name``; the baseline's run, ``runs[baseline_value]``, is
    named so in the legend and drawn once (chapter 5's sweeps)."""
    markers = "osD^v<>"
    for i, (value, h) in enumerate(runs.items()):
        marker = markers[i % len(markers)]
        label = f"{name}={value:g}" + (" (baseline)" if value == baseline_value else "")
        width = 2.5 if value == baseline_value else 1.5
        ax.plot(h.epoch, h.train_acc, "-", color=f"C{i}", marker=marker, ms=5, lw=width, label=label)
        ax.plot(h.epoch, h.val_acc, "--", color=f"C{i}", marker=marker, ms=5, lw=width, mfc="white")
    _epoch_axis(ax)
    ax.set_ylabel("top-1 accuracy")
    ax.set_title("train (solid), validation (dashed)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10)
    return ax
