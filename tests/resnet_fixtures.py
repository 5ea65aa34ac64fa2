"""Models shared by the chapter-4 tests (test_cam.py, test_visualize.py)."""

from __future__ import annotations

import functools

import torch
import torchvision

from resnetbook import models

# (model factory, input channels, input sizes): the Places365 architecture with
# random weights at small inputs, and the stand-in FashionMNIST ResNet.
ARCHS = {
    "resnet50": (lambda: torchvision.models.resnet50(num_classes=365), 3, [64, 96]),
    "fashion_resnet": (models.fashion_resnet, 1, [28, 32]),
}
CASES = [(name, size) for name, (_, _, sizes) in ARCHS.items() for size in sizes]


@functools.cache
def model_for(name: str) -> torch.nn.Module:
    """One eval-mode model per architecture (building a ResNet-50 takes seconds); tests only read it."""
    torch.manual_seed(0)
    model = ARCHS[name][0]().eval()
    # Random BN affine so every block contributes (zero-init residual BN would
    # otherwise make blocks identities) and activations are far from trivial.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model
