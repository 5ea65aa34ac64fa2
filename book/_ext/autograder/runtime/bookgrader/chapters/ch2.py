"""Hidden cases of chapter 2 (a pretrained ResNet): other ResNets than the public checks' ResNet-18.

The weights are set to known values (each convolution's kernels hold its own index), so the
reference values do not depend on random initialization.
"""

from __future__ import annotations

import torch
import torchvision

from bookgrader.cases import Case

# While grading, the notebook's example images come from the first test images of FashionMNIST
# (resnetbook.examples reads only those); the rest of the dataset would cost 50 MB of the 768.
DATASET_SIZES = (1_000, 1_000)


def _resnet(arch: str, names_only: bool = False) -> torch.nn.Module:
    """``arch`` with known kernels; ``names_only``: on the meta device (no memory: the names need no weights)."""
    with torch.device("meta" if names_only else "cpu"):
        if arch == "resnet10":  # the smallest ResNet of the family: one basic block per stage
            model = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
        elif arch == "resnet26b":  # bottleneck blocks, one per stage: ResNet-50's kind at half its memory
            model = torchvision.models.ResNet(torchvision.models.resnet.Bottleneck, [1, 1, 1, 1])
        else:
            model = getattr(torchvision.models, arch)(weights=None)
    if names_only:
        return model.eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for index, conv in enumerate(convs):
            conv.weight.copy_(index + torch.linspace(0, 0.5, conv.weight.numel()).reshape(conv.weight.shape))
    return model.eval()


WHAT = {"resnet10": "a ResNet-10, ResNet(BasicBlock, [1, 1, 1, 1])",
        "resnet26b": "a ResNet with one bottleneck block per stage, ResNet(Bottleneck, [1, 1, 1, 1])"}


def _case(arch: str, names_only: bool = False) -> Case:
    return Case(WHAT.get(arch, f"torchvision.models.{arch}()"), lambda: (_resnet(arch, names_only),))


CASES = {
    "uncounted_convs": [_case("resnet10", True), _case("resnet34", True), _case("resnet50", True)],
    "seventh_conv_kernels": [_case("resnet10"), _case("resnet26b")],
}
