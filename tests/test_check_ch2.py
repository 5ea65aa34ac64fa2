"""Chapter 2's self-checks: the typical wrong answers they catch (the contract every check keeps: test_exercise_contract.py).

The reference solutions come from the chapter notebook (tests/chapter_code.py), so the
tests of the solutions themselves (the uncounted convolutions, the seventh one) live here.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision
from torch import nn

from chapter_code import fails, reference
from resnetbook import architecture, check

CHAPTER = "02_pretrained_inference"


@functools.cache
def ref(name: str):
    return reference(CHAPTER, name)


def convs(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


# ---------------------------------------------------------------- the reference passes


@pytest.mark.parametrize("builder, depth, shortcuts", [
    (torchvision.models.resnet18, 18, 3),
    (torchvision.models.resnet34, 34, 3),
    (torchvision.models.resnet50, 50, 4),
])
def test_uncounted_convs_complete_the_depth(builder, depth, shortcuts) -> None:
    model = builder()
    left_out = ref("uncounted_convs")(model)
    modules = dict(model.named_modules())
    assert len(left_out) == shortcuts
    assert all(modules[n].kernel_size == (1, 1) and architecture.is_shortcut(n) for n in left_out)
    assert len(convs(model)) - len(left_out) + 1 == depth  # + fc
    assert sorted(n for n, _ in architecture.counted_layers(model)) == sorted(
        [n for n, _ in convs(model) if n not in left_out] + ["fc"])


def test_seventh_conv_of_resnet18() -> None:
    model = torchvision.models.resnet18()
    kernels = ref("seventh_conv_kernels")(model)
    assert type(kernels) is torch.Tensor and kernels.shape == (128, 128, 3, 3)
    assert kernels.data_ptr() == model.layer2[0].conv2.weight.data_ptr()


# ---------------------------------------------------------------- ch2-uncounted-convs


def _names(keep):
    return lambda model: [n for n, m in model.named_modules() if keep(n, m)]


def test_uncounted_convs_wrong_answers() -> None:
    is_conv = lambda m: isinstance(m, nn.Conv2d)  # noqa: E731
    fails(check.uncounted_convs, _names(lambda n, m: is_conv(m) and "downsample" not in n),
          "returned the 17 convolutions on the main path, the ones the depth \\*does\\* count")
    fails(check.uncounted_convs, _names(lambda n, m: is_conv(m)), "returned all 20 convolutions")
    fails(check.uncounted_convs, _names(lambda n, m: (is_conv(m) and "downsample" in n) or n == "fc"),
          "includes 'fc': the fully connected layer is one of the 18 counted layers")
    fails(check.uncounted_convs, _names(lambda n, m: n.endswith("downsample")),
          "not convolutions \\(Sequential, Sequential, Sequential\\).*'downsample.0'")
    fails(check.uncounted_convs, lambda model: [m for n, m in model.named_modules() if "downsample.0" in n],
          "returned modules; return their names")
    fails(check.uncounted_convs, lambda model: [(n, m) for n, m in convs(model) if "downsample" in n],
          "returned \\(name, module\\) pairs")
    fails(check.uncounted_convs, lambda model: {n for n, m in convs(model) if "downsample" in n},
          "returned set, expected a list")
    # ResNet-18's listing written out: wrong for ResNet-50, whose first block widens too.
    fails(check.uncounted_convs, lambda model: ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"],
          "resnet50.*missing \\['layer1.0.downsample.0'\\].*read the model you are given")
    fails(check.uncounted_convs, lambda model: [], "missing \\['layer2.0.downsample.0'")
    fails(check.uncounted_convs, lambda model: ["layer2.0.downsample.0"] * 2, "lists a name twice")
    fails(check.uncounted_convs, lambda model: ["layer2.downsample"], "not module names of resnet18")

    def crashes(model):
        return model.downsample

    fails(check.uncounted_convs, crashes, "uncounted_convs\\(resnet18\\) raised AttributeError")


# ---------------------------------------------------------------- ch2-seventh-conv


def _nth_conv(index: int, detach: bool = True):
    def answer(model):
        weight = convs(model)[index][1].weight
        return weight.detach() if detach else weight
    return answer


def test_seventh_conv_wrong_answers() -> None:
    fails(check.seventh_conv_kernels, _nth_conv(5), "layer2.0.conv1, the sixth convolution: Python counts from 0")
    fails(check.seventh_conv_kernels, _nth_conv(7), "layer2.0.downsample.0, the eighth convolution")
    fails(check.seventh_conv_kernels, _nth_conv(6, detach=False), "returned the Parameter itself.*\\.weight\\.detach\\(\\)")
    fails(check.seventh_conv_kernels, lambda model: convs(model)[6][1], "returned the module Conv2d.*return its kernels")
    fails(check.seventh_conv_kernels, lambda model: convs(model)[6][0], "returned str, expected a torch.Tensor")
    # Counting only the main path's convolutions, or the fc: the same seventh here, so it passes.
    check.seventh_conv_kernels(lambda model: [m for n, m in convs(model) if "downsample" not in n][6].weight.detach())
    # ResNet-18 written in: wrong for ResNet-34.
    fails(check.seventh_conv_kernels, lambda model: model.layer2[0].conv2.weight.detach(),
          "seventh_conv_kernels\\(resnet34\\) returned the kernels of layer2.0.conv2; the seventh .* is layer1.2.conv2")
    fails(check.seventh_conv_kernels, lambda model: convs(model)[6][1].weight.detach().flatten(),
          "not the weight of any convolution; expected layer2.0.conv2.weight, shape \\(128, 128, 3, 3\\)")

    def changes_model(model):
        weight = convs(model)[6][1].weight
        with torch.no_grad():
            weight.mul_(0.5)
        return weight.detach()

    fails(check.seventh_conv_kernels, changes_model, "changed the model's weights")
