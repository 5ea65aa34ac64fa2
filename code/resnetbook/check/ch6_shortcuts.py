"""Self-check of chapter 6's degradation exercise: the gradient that reaches each block.

The probe network's blocks multiply their input by known constants, so the gradient
reaching block k is the one reaching the output times the product of the constants
from block k on: the ratio of consecutive norms is the constant of block k. The check
compares ratios (hand-computed), never a worked solution.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from resnetbook.check._base import call, expect, passed

SCALES = ((2.0, 3.0), (0.5,), (4.0, 1.5))  # per stage: the constant of each block


class _Scale(nn.Module):
    """A block that multiplies its input by ``c`` and records the mode it ran in."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = c
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return x * self.c


class _Probe(nn.Module):
    """conv1 + bn1 + relu stem, three stages of ``_Scale`` blocks, average pool and fc: a FashionResNet's names."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(3)
        self.relu = nn.ReLU()
        self.layer1, self.layer2, self.layer3 = (nn.Sequential(*map(_Scale, s)) for s in SCALES)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def blocks(self) -> list[_Scale]:
        return [b for layer in (self.layer1, self.layer2, self.layer3) for b in layer]


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-3) for x, y in zip(a, b))


def block_input_grad_norms(fn: Callable) -> None:
    """Check ``block_input_grad_norms(model, X, y)``: norms of dL/d(input of each block), input side first."""
    name = "block_input_grad_norms"
    torch.manual_seed(0)
    model = _Probe().eval()  # the check starts in eval mode: the answer must switch to train()
    X, y = torch.randn(6, 1, 5, 5), torch.tensor([0, 1, 2, 3, 0, 1])
    norms = call(name, "the probe network", fn, model, X, y)
    norms = [float(n) for n in norms]
    blocks = model.blocks()
    expect(len(norms) == len(blocks), name,
           f"expected one norm per block of layer1-layer3 ({len(blocks)} blocks), got {len(norms)}")
    expect(all(math.isfinite(n) and n > 0 for n in norms), name, f"norms must be positive numbers, got {norms}")
    expect(all(b.modes and all(b.modes) for b in blocks), name,
           "the forward pass ran in eval mode: measure the gradients of training, call model.train() first")
    expect(all(not b._forward_hooks and not b._forward_pre_hooks for b in model.modules()), name,
           "hooks are still registered on the model: remove each one (handle.remove()) when done")
    scales = [b.c for b in blocks]
    ratios = [a / b for a, b in zip(norms, norms[1:])]
    expect(not _close(ratios, [c ** 2 for c in scales[:-1]]), name,
           "the norms look squared: return the (Euclidean) norm of each gradient, not its sum of squares")
    expect(not _close(ratios, [1 / c for c in scales[:-1]][::-1]) or _close(ratios, scales[:-1]), name,
           "the norms are in reverse order: list them from the first block (input side) to the last")
    expect(not _close(ratios, scales[1:]), name,
           "the norms are shifted by one block: measure the gradient of each block's input "
           "(what reaches the block), not of its output")
    expect(_close(ratios, scales[:-1]), name,
           "the norms are not those of dL/d(input of each block): each block here multiplies its input by "
           f"{scales}, so consecutive norms should have these ratios; got ratios {[round(r, 3) for r in ratios]}")
    passed(name, 6)
