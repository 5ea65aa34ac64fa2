"""Hidden cases of chapter 6 (shortcuts, transfer): other depths, widths, networks and freezes.

The public checks (resnetbook.check.ch6) use probe networks; these use the book's own
ResNets, plain and residual, and torchvision's ResNet-18 layout with a partly frozen trunk.

While grading, the notebook gets the first 18,000 training and 2,000 test images of FashionMNIST
(``DATASET_SIZES``: 8,000 training images after the 10,000 held out for validation, so that the
degradation recipe's 200 steps of 32 images stay under one epoch, as the notebook asserts): the
cells that train (the degradation curves, the extra seeds, γ=1, the transfer comparison) and
those that show what they computed are tagged ``otter_ignore``, and the tests do not use the
dataset.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from bookgrader.cases import Case
from resnetbook import models

DATASET_SIZES = (18_000, 2_000)


def _fashion(seed: int, depth: int, shortcuts: bool) -> nn.Module:
    torch.manual_seed(6000 + seed)
    return models.FashionResNet(depth=depth, widths=(4, 8, 8), shortcuts=shortcuts, zero_init_residual=False)


def _batch(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(6000 + seed)
    return torch.randn(n, 1, 14, 14, generator=g), torch.randint(0, 10, (n,), generator=g)


def _grad_args(seed: int, depth: int, shortcuts: bool, n: int) -> tuple:
    return (_fashion(seed, depth, shortcuts), *_batch(seed, n))


def _resnet18(seed: int) -> nn.Module:
    torch.manual_seed(6100 + seed)
    return torchvision.models.resnet18(num_classes=3)


def _frozen(model: nn.Module, trainable: tuple[str, ...]) -> nn.Module:
    """``model`` with only the named submodules trainable, in eval mode."""
    model.requires_grad_(False)
    for name in trainable:
        model.get_submodule(name).requires_grad_(True)
    return model.eval()


def _trainable(out: object, args: tuple) -> list[str]:
    return [name for name, parameter in args[0].named_parameters() if parameter.requires_grad]


def _modes(out: object, args: tuple) -> list[str]:
    return [name for name, module in args[0].named_modules() if module.training]


CASES = {
    "block_input_grad_norms": [
        Case("a plain FashionResNet of 14 layers, 6 images", lambda: _grad_args(1, 14, False, 6)),
        Case("a residual FashionResNet of 20 layers, 3 images", lambda: _grad_args(2, 20, True, 3)),
    ],
    "freeze_backbone": [
        Case("a residual FashionResNet of 14 layers", lambda: (_fashion(3, 14, True),), _trainable),
        Case("torchvision's ResNet-18 with 3 classes", lambda: (_resnet18(4),), _trainable),
    ],
    "train_mode": [
        Case("ResNet-18 with only fc trainable, given in eval mode",
             lambda: (_frozen(_resnet18(5), ("fc",)),), _modes),
        Case("ResNet-18 with layer4 and fc trainable, given in eval mode",
             lambda: (_frozen(_resnet18(6), ("layer4", "fc")),), _modes),
        Case("a FashionResNet with every parameter trainable, given in eval mode",
             lambda: (_fashion(7, 8, True).eval(),), _modes),
    ],
}
