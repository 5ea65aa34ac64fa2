"""Degradation, measured: plain and residual networks of two depths (chapter 6).

He et al. (2016, Figures 1 and 6) found that a deeper *plain* network reaches a higher
training error than a shallower one, and that the same networks with shortcuts do not.
This module trains the CIFAR-style ``6n + 2`` networks of ``models.FashionResNet`` with
and without shortcuts on FashionMNIST, records the training error of every batch, and
measures the gradient that reaches each block at initialization.

The residual networks start the last batch norm of every block at zero
(torchvision's ``zero_init_residual=True``, as every residual network of this
book), so each residual block starts as the identity. A plain block cannot: it
would output zeros, so its last batch norm starts at one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torch import nn

from resnetbook import models
from resnetbook.engine import HParams, make_optimizer
from resnetbook.trainer import Trainer
from resnetbook.training import accuracy, batches


@dataclass(frozen=True)
class Recipe:
    """One degradation experiment's recipe: the networks, the data and their training (chapter 6).

    Images are average-pooled by ``pool`` (28x28 -> 14x14 for 2) and the widths are
    narrow so that four networks train in about a minute on two CPU cores. After
    training, each network's training error is measured in eval mode on the first
    ``eval_size`` training images: the same images for every network.
    """

    depths: tuple[int, ...] = (20, 56)
    widths: tuple[int, int, int] = (8, 16, 32)
    pool: int = 2
    steps: int = 200
    batch_size: int = 32
    lr: float = 0.1
    seed: int = 0
    eval_size: int = 5000

    def __post_init__(self) -> None:
        if self.steps < 10 or min(self.batch_size, self.pool, self.eval_size) < 1 or self.lr <= 0:
            raise ValueError(f"need steps >= 10, positive batch_size, pool, eval_size and lr; got {self}")


def build(depth: int, shortcuts: bool, widths: tuple[int, int, int] = (8, 16, 32),
          zero_init_residual: bool | None = None) -> models.FashionResNet:
    """A residual (``shortcuts=True``) or plain network of ``depth`` layers (chapter 6).

    ``zero_init_residual`` defaults to ``shortcuts``: residual blocks start as the
    identity, plain blocks with their last BN at one. ``build(56, True, zero_init_residual=False)``
    is the residual network that differs from the plain one only by its shortcuts.
    """
    zero = shortcuts if zero_init_residual is None else zero_init_residual
    return models.FashionResNet(depth=depth, widths=widths, shortcuts=shortcuts, zero_init_residual=zero)


def name(depth: int, shortcuts: bool, zero_init_residual: bool | None = None) -> str:
    """``"plain-56"``, ``"residual-20"``, or ``"residual-56, γ=1"`` for a residual network built with
    ``zero_init_residual=False``: how the chapter's tables and legends name a network."""
    gamma1 = shortcuts and zero_init_residual is False
    return f"{'residual' if shortcuts else 'plain'}-{depth}" + (", γ=1" if gamma1 else "")


def prepare(X: torch.Tensor, pool: int) -> torch.Tensor:
    """Normalized images ``[N,1,H,W]`` average-pooled by ``pool`` (chapter 6)."""
    if X.dim() != 4:
        raise ValueError(f"expected images [N,C,H,W], got shape {tuple(X.shape)}")
    return F.avg_pool2d(X, pool) if pool > 1 else X


@dataclass
class Curve:
    """Training error of every batch of one run, the trained network's training error, and the wall time (chapter 6).

    ``train_error`` is measured after the last step, in eval mode, on the recipe's
    ``eval_size`` first training images (``nan`` until :func:`run` measures it).
    """

    label: str
    errors: list[float] = field(default_factory=list)
    seconds: float = 0.0
    train_error: float = float("nan")

    def smoothed(self, window: int = 20) -> torch.Tensor:
        """Running mean of the per-batch error over the last ``window`` batches (fewer at the start)."""
        e = torch.tensor(self.errors)
        c = torch.cat([torch.zeros(1), e.cumsum(0)])
        idx = torch.arange(1, len(e) + 1)
        return (c[idx] - c[(idx - window).clamp(min=0)]) / (idx - (idx - window).clamp(min=0))

    def final(self, window: int = 20) -> float:
        """Mean training error over the last ``window`` batches."""
        return float(torch.tensor(self.errors[-window:]).mean())


def train_curve(model: nn.Module, X: torch.Tensor, y: torch.Tensor, recipe: Recipe, label: str = "") -> Curve:
    """Train ``model`` for ``recipe.steps`` batches and record each batch's training error (chapter 6).

    Nesterov SGD with the engine's one-cycle schedule (``engine.make_optimizer``), no
    augmentation: the error of a batch is measured by the forward pass that trains on it.
    The shared :class:`~resnetbook.trainer.Trainer` steps, so on a float16 GPU (Colab's T4)
    the loss is scaled: the small gradients of deep plain networks would otherwise flush to zero.
    """
    hp = HParams(epochs=1, batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    trainer = Trainer(model, *make_optimizer(model, hp, recipe.steps))
    curve, start = Curve(label), time.perf_counter()
    model.train()
    while len(curve.errors) < recipe.steps:
        for xb, yb in batches(X, y, recipe.batch_size, shuffle=True, generator=generator):
            if len(curve.errors) == recipe.steps:
                break
            logits, _ = trainer.step(xb, yb)
            curve.errors.append((logits.argmax(1) != yb.to(trainer.device)).float().mean().item())
    curve.seconds = time.perf_counter() - start
    return curve


def run(X: torch.Tensor, y: torch.Tensor, recipe: Recipe = Recipe()) -> dict[str, Curve]:
    """Train the plain and the residual network of every depth of ``recipe`` (chapter 6)."""
    return {name(depth, shortcuts): trained(X, y, recipe, depth, shortcuts)
            for shortcuts in (False, True) for depth in recipe.depths}


def trained(X: torch.Tensor, y: torch.Tensor, recipe: Recipe, depth: int, shortcuts: bool,
            zero_init_residual: bool | None = None) -> Curve:
    """One network of :func:`run`, built with ``recipe.seed`` and trained; its ``train_error`` measured (chapter 6).

    ``zero_init_residual`` as in :func:`build`: ``trained(X, y, recipe, 56, True, False)`` is residual-56
    with every γ at one; another ``recipe.seed`` gives another draw of initialization and batches.
    """
    X = prepare(X, recipe.pool)
    torch.manual_seed(recipe.seed)
    model = build(depth, shortcuts, recipe.widths, zero_init_residual)
    curve = train_curve(model, X, y, recipe, name(depth, shortcuts, zero_init_residual))
    curve.train_error = 1 - accuracy(model, X[:recipe.eval_size], y[:recipe.eval_size])
    return curve


# Okabe & Ito's colour-blind-safe colours: blue, vermilion-orange, reddish purple.
_DEPTH_COLOURS = {"20": "#0072B2", "56": "#E69F00", "γ=1": "#CC79A7"}


def line_style(label: str) -> dict:
    """How a network's line looks in chapter 6's figures, from its label.

    Each network differs from the others by colour (Okabe and Ito's colour-blind-safe palette),
    line style and marker: plain dashed with squares, residual solid with circles, the residual
    network with every γ at one (a label with "γ=1") dotted with triangles; 20-layer networks
    blue, 56-layer ones orange, γ=1 purple.
    """
    kind = "gamma1" if "γ=1" in label else "residual" if label.startswith("residual") else "plain"
    style, marker = {"gamma1": (":", "^"), "residual": ("-", "o"), "plain": ("--", "s")}[kind]
    colour = _DEPTH_COLOURS["γ=1" if kind == "gamma1" else "56" if "-56" in label else "20"]
    return {"linestyle": style, "marker": marker, "color": colour}


def plot_curves(ax: Axes, curves: dict[str, Curve], window: int = 20) -> Axes:
    """Smoothed training error against the step, plain dashed and residual solid, as in the paper's Figure 6 (chapter 6)."""
    for label, curve in curves.items():
        steps = range(1, len(curve.errors) + 1)
        ax.plot(steps, 100 * curve.smoothed(window), label=label, lw=2 if "-56" in label else 1.5,
                markevery=max(1, len(steps) // 8), ms=5, **line_style(label))
    ax.set_xlabel("training step (batch)")
    ax.set_ylabel(f"training error, %\n(mean of last {window} batches)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10)
    return ax


def plot_grad_norms(ax: Axes, norms: dict[str, Sequence[float]]) -> Axes:
    """Gradient norm against the block's depth, log scale, one line per network, styled by :func:`line_style` (chapter 6)."""
    for label, values in norms.items():
        ax.plot(range(len(values)), values, ms=5, lw=1.8, label=label, **line_style(label))
    ax.set_yscale("log")
    ax.set_xlabel("block (0 = first block, input side)")
    ax.set_ylabel("‖dL/d(input of block)‖")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=10)
    return ax
