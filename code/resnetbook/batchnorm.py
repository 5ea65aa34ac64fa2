"""Looking at a batch-norm layer: what it receives, and its per-channel map drawn (chapter 3).

For an input ``x`` of shape ``[N, C, H, W]`` and each channel ``c``, ``BatchNorm2d``
computes ``y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias``: a straight line per
channel. Which tensors ``E[x]`` and ``Var[x]`` are in each mode, and the slope and
intercept of that line, are chapter 3's exercises: the chapter's own functions
(``bn_equation``, ``bn_statistics``, ``bn_slope_intercept``) compute them, and
``resnetbook.check`` checks them.
"""

from __future__ import annotations

import torch
from matplotlib.axes import Axes
from torch import nn


def plot_channel_map(ax: Axes, x: torch.Tensor, y: torch.Tensor, channel: int,
                     slope: float | None = None, intercept: float | None = None,
                     max_points: int = 2000) -> Axes:
    """Scatter output vs input of one channel, with the line ``slope * x + intercept`` (chapter 3)."""
    if x.dim() != 4:
        raise ValueError(f"expected an input of shape [N, C, H, W], got {tuple(x.shape)}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not 0 <= channel < x.shape[1]:
        raise ValueError(f"channel must be in [0, {x.shape[1]}), got {channel}")
    xs = x[:, channel].detach().flatten().cpu()[:max_points]
    ys = y[:, channel].detach().flatten().cpu()[:max_points]
    ax.scatter(xs, ys, s=4, alpha=0.5, color="C0", label="layer output")
    if slope is not None and intercept is not None:
        grid = torch.linspace(float(xs.min()), float(xs.max()), 2)
        sign = "+" if intercept >= 0 else "-"
        ax.plot(grid, slope * grid + intercept, color="C1", lw=2, ls="--",
                label=f"{slope:.3g} x {sign} {abs(intercept):.3g}")
    ax.set_title(f"channel {channel}", fontsize=11)
    ax.set_xlabel("input", fontsize=11)
    ax.set_ylabel("output", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.legend(fontsize=10, markerscale=3)
    return ax


def layer_input(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The tensor ``layer`` receives when ``model`` runs on ``x`` (chapter 3: the input of ``bn1``).

    Runs the model under ``no_grad`` with a forward pre-hook, removed afterwards.
    """
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    if not seen:
        raise ValueError("the layer was not called when the model ran on x")
    return seen[0]
