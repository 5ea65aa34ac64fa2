"""Self-checks for chapter 2 (a pretrained ResNet-18): which convolutions the depth counts, the seventh one.

Each check builds small torchvision ResNets without weights (random initialisation,
nothing downloaded) and compares the student's answer with names read off
torchvision's module listing by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch
import torchvision
from torch import Tensor, nn

from resnetbook.check._base import CheckFailed, call, expect, passed

# The projection convolutions of each network, read off `print(model)`: the first block of
# each stage that changes the shape. ResNet-50's layer1 widens 64 -> 256, so it has one too.
_SHORTCUTS = {
    "resnet18": ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"],
    "resnet34": ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"],
    "resnet50": ["layer1.0.downsample.0", "layer2.0.downsample.0", "layer3.0.downsample.0",
                 "layer4.0.downsample.0"],
}
# The seventh Conv2d in module order, and its neighbours, also read off the listing.
_SEVENTH = {
    "resnet18": ("layer2.0.conv1", "layer2.0.conv2", "layer2.0.downsample.0"),
    "resnet34": ("layer1.2.conv1", "layer1.2.conv2", "layer2.0.conv1"),
}


def _model(arch: str, device: str = "cpu") -> nn.Module:
    torch.manual_seed(0)  # random but reproducible kernels: every convolution's differ
    with torch.device(device):  # "meta": the modules without memory for weights (names are enough)
        return getattr(torchvision.models, arch)(weights=None).eval()


def _fingerprint(model: nn.Module) -> dict[str, str]:
    """sha256 of each tensor of ``model``'s state: whether a function changed the weights, without a copy of them."""
    return {k: hashlib.sha256(v.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
            for k, v in model.state_dict().items()}


def _depth(arch: str) -> int:
    return int(arch.removeprefix("resnet"))


# ---------------------------------------------------------------- ch2-uncounted-convs


def uncounted_convs(fn: Callable[[nn.Module], list[str]]) -> None:
    """Check ``uncounted_convs(model)``: names of the convolutions a ResNet's depth leaves out (ch2-uncounted-convs)."""
    name = "uncounted_convs"
    for arch, expected in _SHORTCUTS.items():
        model = _model(arch, "meta")  # names only: no weights in memory (an autograder has 768 MB)
        modules = dict(model.named_modules())
        case = f"uncounted_convs({arch})"
        out = call(name, case, fn, model)
        expect(isinstance(out, (list, tuple)), name,
               f"{case} returned {type(out).__name__}, expected a list of module names (strings)")
        if any(isinstance(item, nn.Module) for item in out):
            raise CheckFailed(name, f"{case} returned modules; return their names (strings) as "
                              "model.named_modules() gives them, e.g. 'layer2.0.downsample.0'")
        if any(isinstance(item, tuple) for item in out):
            raise CheckFailed(name, f"{case} returned (name, module) pairs; return the names only")
        expect(all(isinstance(item, str) for item in out), name,
               f"{case} returned {out!r}: expected a list of strings")
        expect(len(set(out)) == len(out), name, f"{case} lists a name twice: {out}")
        unknown = [item for item in out if item not in modules]
        expect(not unknown, name, f"{case} returned {unknown}, which are not module names of {arch}: "
               "use the dotted names of model.named_modules()")
        if "fc" in out:
            raise CheckFailed(name, f"{case} includes 'fc': the fully connected layer is one of the "
                              f"{_depth(arch)} counted layers (and it is no convolution)")
        not_convs = [item for item in out if not isinstance(modules[item], nn.Conv2d)]
        if not_convs:
            hint = (" (the Conv2d is its child 'downsample.0'; 'downsample.1' is batch norm)"
                    if any("downsample" in item for item in not_convs) else "")
            raise CheckFailed(name, f"{case} returned {not_convs}, which are not convolutions "
                              f"({', '.join(type(modules[i]).__name__ for i in not_convs)}){hint}")
        got = sorted(out)
        if got == sorted(expected):
            continue
        convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        counted = [n for n in convs if n not in expected]
        if got == sorted(counted):
            raise CheckFailed(name, f"{case} returned the {len(counted)} convolutions on the main path, "
                              "the ones the depth *does* count; the question asks for the ones it leaves out")
        if got == sorted(convs):
            raise CheckFailed(name, f"{case} returned all {len(convs)} convolutions; keep only those "
                              f"the {_depth(arch)} leaves out")
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        hint = ""
        if arch == "resnet50" and missing == ["layer1.0.downsample.0"]:
            hint = (" ResNet-50's first block widens 64 -> 256 channels, so it has a projection too: "
                    "read the model you are given rather than ResNet-18's listing")
        elif extra:
            hint = f" The convolutions {extra} are on the main path, which the depth counts."
        raise CheckFailed(name, f"{case} should give the {len(expected)} projection-shortcut convolutions "
                          f"{expected}; missing {missing}, extra {extra}.{hint}")
    passed(name, len(_SHORTCUTS))


# ---------------------------------------------------------------- ch2-seventh-conv


def seventh_conv_kernels(fn: Callable[[nn.Module], Tensor]) -> None:
    """Check ``seventh_conv_kernels(model)``: the weight of the 7th ``Conv2d`` in module order, as a tensor (ch2-seventh-conv)."""
    name = "seventh_conv_kernels"
    for arch, (sixth, seventh, eighth) in _SEVENTH.items():
        model = modules = None  # the previous ResNet goes before the next is built (graders have 768 MB)
        model = _model(arch)
        modules = dict(model.named_modules())
        before = _fingerprint(model)  # a hash per tensor, not a second copy of the weights
        case = f"seventh_conv_kernels({arch})"
        out = call(name, case, fn, model)
        if isinstance(out, nn.Conv2d):
            raise CheckFailed(name, f"{case} returned the module {out}; return its kernels, the tensor "
                              "module.weight (detached: .weight.detach())")
        expect(isinstance(out, Tensor), name,
               f"{case} returned {type(out).__name__}, expected a torch.Tensor (the convolution's .weight)")
        if isinstance(out, nn.Parameter) or out.requires_grad:
            raise CheckFailed(name, f"{case} returned the Parameter itself, which requires grad; "
                              "return a plain tensor with .weight.detach()")
        expect(_fingerprint(model) == before, name,
               f"{case} changed the model's weights; only read them")
        matches = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)
                   and m.weight.shape == out.shape and torch.equal(m.weight.detach(), out)]
        if matches == [seventh]:
            continue
        if matches == [sixth]:
            raise CheckFailed(name, f"{case} returned the kernels of {sixth}, the sixth convolution: "
                              "Python counts from 0, so the seventh is index 6")
        if matches == [eighth]:
            raise CheckFailed(name, f"{case} returned the kernels of {eighth}, the eighth convolution: "
                              "the seventh is index 6 (Python counts from 0)")
        if matches:
            raise CheckFailed(name, f"{case} returned the kernels of {matches[0]}; the seventh Conv2d in "
                              f"module order (model.modules()) is {seventh}")
        raise CheckFailed(name, f"{case} returned a tensor of shape {tuple(out.shape)} that is not the weight "
                          f"of any convolution; expected {seventh}.weight, shape "
                          f"{tuple(modules[seventh].weight.shape)}")
    passed(name, len(_SEVENTH))
