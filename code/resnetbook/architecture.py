"""Reading ResNets as modules: block classes, shapes through a block, module trees, layer counts.

Chapter 1 finds which block class is the paper's Figure 2 and follows shapes through a
block; chapter 2 lists the modules of a ResNet and counts the layers its name counts.
(The lines of torchvision's source are found by ``source``; figures are drawn by ``diagrams``.)

The functions that compute chapter 1's worked answers (which class) hold their bodies in
``### BEGIN SOLUTION`` regions: the student release replaces them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet


@dataclass(frozen=True)
class BlockSummary:
    """What a residual block class computes on its main path (chapter 1)."""

    name: str
    expansion: int
    kernel_sizes: list[int]
    channels: list[tuple[int, int]]
    parameters: int


def summarize_block(block: type[nn.Module], inplanes: int = 64, planes: int = 64) -> BlockSummary:
    """Build one block and read its main-path convolutions (chapter 1)."""
    module = block(inplanes, planes)
    convs = [m for name, m in module.named_modules()
             if isinstance(m, nn.Conv2d) and not is_shortcut(name)]
    return BlockSummary(
        name=block.__name__,
        expansion=block.expansion,
        kernel_sizes=[c.kernel_size[0] for c in convs],
        channels=[(c.in_channels, c.out_channels) for c in convs],
        parameters=sum(p.numel() for p in module.parameters()),
    )


def block_classes(module: ModuleType) -> list[type[nn.Module]]:
    """The residual block classes a module defines (chapter 1, ch1-figure2-class)."""
    ### BEGIN SOLUTION
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, nn.Module) and hasattr(obj, "expansion")
            and obj.__module__ == module.__name__]
    ### END SOLUTION


def figure2_class(module: ModuleType) -> type[nn.Module]:
    """The class of ``module`` implementing the block of the paper's Figure 2 (chapter 1, ch1-figure2-class).

    Raises ``ValueError`` unless exactly one class fits.
    """
    ### BEGIN SOLUTION
    fits = [b for b in block_classes(module)
            if summarize_block(b).kernel_sizes == [3, 3] and b.expansion == 1]
    if len(fits) != 1:
        raise ValueError(f"expected one block with two 3x3 convs and expansion 1, found {fits}")
    return fits[0]
    ### END SOLUTION


def trace_shapes(module: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Output shape of every leaf module when ``x`` goes through ``module``, in call order (chapter 1)."""
    shapes: list[tuple[str, tuple[int, ...]]] = []
    handles = [m.register_forward_hook(
        lambda _m, _inp, out, name=name: shapes.append((name, tuple(out.shape))))
        for name, m in module.named_modules() if not list(m.children())]
    try:
        with torch.no_grad():
            shapes.append(("(block output)", tuple(module(x).shape)))
    finally:
        for h in handles:
            h.remove()
    return shapes


def projection(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    """The projection shortcut W_s torchvision builds: 1x1 conv (with stride) + BN (chapter 1)."""
    return nn.Sequential(tv_resnet.conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))


def module_tree(model: nn.Module) -> list[str]:
    """One line per module: indented qualified name and what it is (chapter 2)."""
    rows = []
    for name, m in model.named_modules():
        depth = name.count(".") + 1 if name else 0
        leaf = not list(m.children())
        what = f"{type(m).__name__}({m.extra_repr()})" if leaf else type(m).__name__
        rows.append(f"{'  ' * depth}{name or '(model)'}: {what}")
    return rows


def is_shortcut(name: str) -> bool:
    """True for modules on a projection shortcut (inside a block's ``downsample``) (chapters 1-2)."""
    return "downsample" in name.split(".")


def counted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The weighted layers a ResNet's depth counts, with their names (chapter 2; the stand-in note).

    Which layers these are, and why, is chapter 2's exercise ch2-uncounted-convs.
    """
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not is_shortcut(n)]


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks of a ResNet (modules with a ``downsample`` attribute), in order (chapters 1-2)."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "downsample")]
