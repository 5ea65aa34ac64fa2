"""Hidden cases of chapter 2 (a pretrained ResNet): other ResNets than the public checks' ResNet-18.

The weights are set to known values (each convolution's kernels hold its own index), so the
reference values do not depend on random initialization.
"""

from __future__ import annotations

import torch
import torchvision

from bookgrader.cases import Case


def _resnet(arch: str) -> torch.nn.Module:
    if arch == "resnet10":  # the smallest ResNet of the family: one basic block per stage
        model = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
    else:
        model = getattr(torchvision.models, arch)(weights=None)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for index, conv in enumerate(convs):
            conv.weight.copy_(index + torch.linspace(0, 0.5, conv.weight.numel()).reshape(conv.weight.shape))
    return model.eval()


def _case(arch: str) -> Case:
    what = "a ResNet-10, ResNet(BasicBlock, [1, 1, 1, 1])" if arch == "resnet10" else f"torchvision.models.{arch}()"
    return Case(what, lambda: (_resnet(arch),))


CASES = {
    "uncounted_convs": [_case("resnet10"), _case("resnet34"), _case("resnet50")],
    "seventh_conv_kernels": [_case("resnet10"), _case("resnet50")],
}
