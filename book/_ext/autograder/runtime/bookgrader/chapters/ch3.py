"""Hidden cases of chapter 3 (batch normalization): other shapes, eps values and layers.

The public checks (resnetbook.check.ch3) use x of shape (4, 3, 5, 6) and (1, 3, 5, 6);
these use other batch sizes, channel counts and eps, including a channel of tiny variance.
"""

from __future__ import annotations

import torch
from torch import nn

from bookgrader.cases import Case
from resnetbook.check.ch3 import batchnorm_with


def _tensors(seed: int, shape: tuple[int, int, int, int]) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1000 + seed)
    c = shape[1]
    x = torch.randn(shape, generator=g) * (torch.rand(c, generator=g) * 3 + 0.1)[None, :, None, None] \
        + torch.randn(c, generator=g)[None, :, None, None]
    var = torch.rand(c, generator=g) * 4
    var[0] = 1e-3  # a tiny variance: where eps shows
    return x, torch.randn(c, generator=g), var, torch.randn(c, generator=g) + 1, torch.randn(c, generator=g)


def _layer(seed: int, shape: tuple[int, int, int, int], eps: float) -> tuple[nn.BatchNorm2d, torch.Tensor]:
    x, *stats = _tensors(seed, shape)
    return batchnorm_with(*stats, eps=eps), x


def _equation(seed: int, shape: tuple[int, int, int, int], eps: float) -> Case:
    return Case(f"x of shape {shape}, eps={eps}", lambda: (*_tensors(seed, shape), eps))


def _with_layer(seed: int, shape: tuple[int, int, int, int], eps: float, mode: str) -> Case:
    return Case(f'a BatchNorm2d(eps={eps}), x of shape {shape}, mode "{mode}"',
                lambda: (*_layer(seed, shape, eps), mode))


LAYER_CASES = [(1, (2, 5, 3, 4), 1e-3, "train"), (2, (2, 5, 3, 4), 1e-3, "eval"),
               (3, (8, 2, 1, 1), 0.5, "train"), (4, (3, 4, 7, 2), 1e-5, "eval")]

CASES = {
    "bn_equation": [_equation(1, (2, 5, 3, 4), 1e-3), _equation(2, (8, 2, 1, 1), 0.5), _equation(3, (3, 4, 7, 2), 1e-5)],
    "bn_statistics": [_with_layer(*case) for case in LAYER_CASES],
    "bn_slope_intercept": [_with_layer(*case) for case in LAYER_CASES],
}
