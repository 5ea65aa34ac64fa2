"""Hidden cases of chapter 4 (looking inside the network): other shapes, values and networks."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from bookgrader.cases import Case


def _randn(seed: int, *shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(4000 + seed)) * scale + shift


def _filters_with_a_constant_one(seed: int) -> torch.Tensor:
    weight = _randn(seed, 4, 3, 3, 3)
    weight[2] = 0.7  # a filter with no range: it becomes zeros
    return weight


def _resnet18(seed: int) -> nn.Module:
    torch.manual_seed(4000 + seed)
    return torchvision.models.resnet18(weights=None, num_classes=7).eval()


def _sequential(seed: int) -> nn.Module:
    torch.manual_seed(4000 + seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.Flatten(), nn.Linear(2 * 62 * 62, 3)).eval()


def _output(network: nn.Module, args: tuple) -> torch.Tensor:
    """What the network without its last layers computes on a fixed input (compared, not the modules)."""
    with torch.no_grad():
        return network.eval()(_randn(99, 1, 3, 64, 64))


def _linear(seed: int, c: int, classes: int) -> nn.Linear:
    torch.manual_seed(4000 + seed)
    return nn.Linear(c, classes)


CASES = {
    "normalize_tensor": [
        Case("t of shape (2, 3, 4), values from -7 to 3", lambda: (_randn(1, 2, 3, 4, scale=2.0, shift=-2.0),)),
        Case("t = tensor([[-1., 7.]])", lambda: (torch.tensor([[-1.0, 7.0]]),)),
        Case("a constant t (every entry 3.0)", lambda: (torch.full((4, 4), 3.0),)),
    ],
    "normalize_filters": [
        Case("weight of shape (6, 3, 5, 5)", lambda: (_randn(2, 6, 3, 5, 5),)),
        Case("weight of shape (2, 4, 1, 1)", lambda: (_randn(3, 2, 4, 1, 1),)),
        Case("weight of shape (4, 3, 3, 3) with one constant filter", lambda: (_filters_with_a_constant_one(4),)),
    ],
    "remove_last_layers": [
        Case("a ResNet-18, n=2 (its output on an image)", lambda: (_resnet18(5), 2), _output),
        Case("a ResNet-18, n=3 (its output on an image)", lambda: (_resnet18(6), 3), _output),
        Case("an nn.Sequential of 5 layers, n=2 (its output on an image)", lambda: (_sequential(7), 2), _output),
    ],
    "ablate_units": [
        Case("features of shape (8, 3, 3), units [0, 5]", lambda: (_randn(8, 8, 3, 3), [0, 5])),
        Case("features of shape (2, 6, 2, 2), units tensor([1, 2, 3])", lambda: (_randn(9, 2, 6, 2, 2), torch.tensor([1, 2, 3]))),
        Case("features of shape (1, 4, 5, 1), units [3]", lambda: (_randn(10, 1, 4, 5, 1), [3])),
    ],
    "features_to_hw_by_c": [
        Case("features of shape (1, 5, 3, 4)", lambda: (_randn(11, 1, 5, 3, 4),)),
        Case("features of shape (1, 2, 1, 6)", lambda: (_randn(12, 1, 2, 1, 6),)),
        Case("features of shape (1, 7, 2, 2)", lambda: (_randn(13, 1, 7, 2, 2),)),
    ],
    "class_scores_per_location": [
        Case("hw_by_c of shape (12, 5), fc = nn.Linear(5, 3)", lambda: (_randn(14, 12, 5), _linear(15, 5, 3))),
        Case("hw_by_c of shape (4, 8), fc = nn.Linear(8, 10)", lambda: (_randn(16, 4, 8), _linear(17, 8, 10))),
    ],
}
