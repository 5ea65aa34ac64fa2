"""Batch normalization from scratch, and its per-channel linear map (chapter 3).

For an input ``x`` of shape ``[N, C, H, W]`` and each channel ``c``,
``BatchNorm2d`` computes ``y = (x - mean) / sqrt(var + eps) * weight + bias``:
in ``train()`` mode ``mean``/``var`` are the batch statistics over ``(N, H, W)``
(biased variance), in ``eval()`` mode the stored ``running_mean``/``running_var``.
Either way ``y = slope * x + intercept`` per channel.
"""

from __future__ import annotations

import torch
from matplotlib.axes import Axes
from torch import nn


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected an input of shape [N, C, H, W], got {tuple(x.shape)}")


def batch_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel mean, biased variance and unbiased variance over ``(N, H, W)`` (chapter 3).

    The biased one normalizes in ``train()`` mode; the unbiased one updates ``running_var``.
    """
    _check_input(x)
    mean = x.mean(dim=(0, 2, 3))
    biased = x.var(dim=(0, 2, 3), unbiased=False)
    unbiased = x.var(dim=(0, 2, 3), unbiased=True)
    return mean, biased, unbiased


class BatchNorm2d(nn.Module):
    """A from-scratch ``nn.BatchNorm2d`` (affine, tracking running statistics) (chapter 3).

    Same parameter and buffer names as PyTorch's, so ``load_state_dict`` moves
    values between the two. ``momentum=None`` uses a cumulative average, as PyTorch does.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(f"num_features must be positive, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        if x.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} channels, got {x.shape[1]}")
        if self.training:
            mean, var, unbiased = batch_stats(x)
            self._update_running_stats(mean.detach(), unbiased.detach())
        else:
            mean, var = self.running_mean, self.running_var
        return _affine(x, *linear_map(mean, var, self.weight, self.bias, self.eps))

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """running <- (1 - momentum) * running + momentum * batch statistic."""
        self.num_batches_tracked += 1
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - m).add_(m * mean)
        self.running_var.mul_(1 - m).add_(m * unbiased_var)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def _affine(x: torch.Tensor, slope: torch.Tensor, intercept: torch.Tensor) -> torch.Tensor:
    """Apply ``slope * x + intercept`` channel by channel."""
    return x * slope[None, :, None, None] + intercept[None, :, None, None]


def linear_map(mean: torch.Tensor, var: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
               eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Slope ``weight / sqrt(var + eps)`` and intercept ``bias - mean * slope`` (chapter 3)."""
    slope = weight / torch.sqrt(var + eps)
    return slope, bias - mean * slope


@torch.no_grad()
def slope_intercept(bn: nn.BatchNorm2d, x: torch.Tensor | None = None,
                    training: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel slope and intercept of a BN layer on input ``x`` (chapter 3).

    ``training`` defaults to the layer's own mode. Train mode uses the batch
    statistics of ``x`` (biased variance); eval mode the running statistics.
    Returns plain tensors (no autograd graph): this reads a layer, it does not train it.
    """
    training = bn.training if training is None else training
    if training:
        if x is None:
            raise ValueError("train mode needs the input x: the statistics come from the batch")
        mean, var, _ = batch_stats(x)
    else:
        mean, var = bn.running_mean, bn.running_var
    weight = bn.weight if bn.weight is not None else torch.ones_like(mean)
    bias = bn.bias if bn.bias is not None else torch.zeros_like(mean)
    return linear_map(mean, var, weight, bias, bn.eps)


def expected_running_stats(bn: nn.BatchNorm2d, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``running_mean``/``running_var`` after one ``train()`` step on ``x``, from the formulas (chapter 3).

    Uses the layer's momentum and the *unbiased* batch variance.
    """
    if bn.momentum is None:
        raise ValueError("momentum=None (cumulative average) depends on num_batches_tracked; "
                         "use the BatchNorm2d module here")
    mean, _, unbiased = batch_stats(x)
    m = bn.momentum
    return (1 - m) * bn.running_mean + m * mean, (1 - m) * bn.running_var + m * unbiased


def plot_channel_map(ax: Axes, x: torch.Tensor, y: torch.Tensor, channel: int,
                     slope: float | None = None, intercept: float | None = None,
                     max_points: int = 2000) -> Axes:
    """Scatter output vs input of one channel, with the line ``slope * x + intercept`` (chapter 3)."""
    _check_input(x)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not 0 <= channel < x.shape[1]:
        raise ValueError(f"channel must be in [0, {x.shape[1]}), got {channel}")
    xs = x[:, channel].detach().flatten().cpu()[:max_points]
    ys = y[:, channel].detach().flatten().cpu()[:max_points]
    ax.scatter(xs, ys, s=4, alpha=0.5, label="layer output")
    if slope is not None and intercept is not None:
        grid = torch.linspace(float(xs.min()), float(xs.max()), 2)
        sign = "+" if intercept >= 0 else "-"
        ax.plot(grid, slope * grid + intercept, color="tab:red", lw=1, ls="--",
                label=f"{slope:.3g} x {sign} {abs(intercept):.3g}")
    ax.set_title(f"channel {channel}", fontsize=9)
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    ax.legend(fontsize=7)
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
