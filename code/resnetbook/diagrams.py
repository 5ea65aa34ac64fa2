"""Drawings of ResNets read from the modules themselves: a block, a row of blocks, a module tree.

Chapter 1 draws blocks as in the paper's Figure 2 and the blocks at a stage boundary;
chapter 2 draws the children of a ResNet with each stage's blocks. Every function draws
on the ``Axes`` it is given and returns it.
"""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from torch import nn
from torchvision.models import resnet as tv_resnet

from resnetbook.architecture import residual_blocks

_CONV_COLOR, _OTHER_COLOR, _PROJECTED_COLOR = "#cfe2f3", "#eeeeee", "#fde9c9"
_SHORTCUT_LINE = "#b45f06"


def _box(ax: Axes, x: float, y: float, text: str, color: str, w: float = 2.2, h: float = 0.5,
         dashed: bool = False) -> None:
    """A rounded box centred at (x, y) with a label."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                fc=color, ec="black", ls="--" if dashed else "-", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax: Axes, a: tuple[float, float], b: tuple[float, float], **style: Any) -> None:
    """An arrow from ``a`` to ``b``; ``style`` sets the line (color, lw, ls, connectionstyle)."""
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, **{"lw": 1.2, **style}))


def _shortcut_style(projected: bool) -> dict[str, Any]:
    """Shortcuts are orange: solid for the identity, dotted for a projection, as in the paper."""
    return {"color": _SHORTCUT_LINE, "lw": 1.5, "ls": "--" if projected else "-"}


def _stride(conv: nn.Conv2d) -> str:
    """``, /2`` for a strided convolution, as the paper's figures mark it; else nothing."""
    return f", /{conv.stride[0]}" if conv.stride[0] > 1 else ""


def _conv_label(conv: nn.Conv2d) -> str:
    kh, kw = conv.kernel_size
    return f"{kh}x{kw} conv, {conv.out_channels}{_stride(conv)}"


def _addition(ax: Axes, y: float) -> None:
    """The node adding F(x) and the shortcut at (0, y), and the ReLU after it."""
    ax.add_patch(Circle((0, y), 0.2, fc="white", ec="black"))
    ax.text(0, y, "+", ha="center", va="center", fontsize=11)
    _arrow(ax, (0, y - 0.2), (0, y - 0.7))
    _box(ax, 0, y - 1, "ReLU", _OTHER_COLOR, w=1.2)


def _block_shortcut(ax: Axes, projected: bool, plus_y: float, label_y: float) -> None:
    """The shortcut leaves x above the first layer and rejoins at the addition."""
    style = _shortcut_style(projected)
    ax.plot([0, 1.9, 1.9], [5.6, 5.6, plus_y], **style)
    _arrow(ax, (1.9, plus_y), (0.22, plus_y), **style)
    label = "projection $W_s\\mathbf{x}$\n1x1 conv + BN" if projected else "identity $\\mathbf{x}$"
    ax.text(2.2, label_y, label, ha="left", va="center", fontsize=9, color=_SHORTCUT_LINE)


def draw_block(ax: Axes, block: nn.Module, title: str = "") -> Axes:
    """Draw one BasicBlock as in the paper's Figure 2, from the module itself (chapter 1).

    The shortcut is solid for the identity and dotted for a projection (``downsample``).
    """
    if not isinstance(block, tv_resnet.BasicBlock):
        raise ValueError(f"draw_block draws a BasicBlock, got {type(block).__name__}")
    steps = [(_conv_label(block.conv1), _CONV_COLOR), ("BN, ReLU", _OTHER_COLOR),
             (_conv_label(block.conv2), _CONV_COLOR), ("BN", _OTHER_COLOR)]
    ys = [5.0 - i for i in range(len(steps))]
    plus_y = ys[-1] - 1
    ax.text(0, 6.0, r"$\mathbf{x}$" + f"  ({block.conv1.in_channels} ch)", ha="center", fontsize=9)
    _arrow(ax, (0, 5.85), (0, ys[0] + 0.3))
    for (text, color), y, below in zip(steps, ys, [y + 0.3 for y in ys[1:]] + [plus_y + 0.2]):
        _box(ax, 0, y, text, color)
        _arrow(ax, (0, y - 0.3), (0, below))
    _addition(ax, plus_y)
    middle = (ys[0] + ys[-1]) / 2
    ax.text(-1.3, middle, r"$\mathcal{F}(\mathbf{x})$", ha="right", fontsize=10)
    _block_shortcut(ax, block.downsample is not None, plus_y, middle)
    ax.set_xlim(-3, 4.2)
    ax.set_ylim(plus_y - 1.5, 6.4)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    return ax


def draw_stages(ax: Axes, model: nn.Module, stages: tuple[str, ...] = ("layer1", "layer2")) -> Axes:
    """Draw the blocks of some stages in a row with their shortcuts (chapter 1).

    Solid arcs are identity shortcuts, dotted arcs projections; read from the model.
    """
    blocks = [(n, m) for n, m in residual_blocks(model) if n.split(".")[0] in stages]
    if not blocks:
        raise ValueError(f"no residual blocks in stages {stages}")
    for i, (name, block) in enumerate(blocks):
        x = 3.0 * i
        channels = f"{block.conv1.in_channels}->{block.conv2.out_channels}{_stride(block.conv1)}"
        _box(ax, x, 0, f"{name}\n{channels}", _CONV_COLOR, w=2.0, h=0.9)
        if i:
            _arrow(ax, (x - 2.0, 0), (x - 1.05, 0))
        projected = block.downsample is not None
        _arrow(ax, (x - 1.1, 0.45), (x + 1.1, 0.45), connectionstyle="arc3,rad=-0.6",
               **_shortcut_style(projected))
        ax.text(x, 1.35, "projection" if projected else "identity", ha="center",
                fontsize=9, color=_SHORTCUT_LINE)
    ax.set_xlim(-1.5, 3.0 * len(blocks) - 1.5)
    ax.set_ylim(-0.9, 1.8)
    ax.axis("off")
    return ax


def _stage_column(ax: Axes, col: int, name: str, child: nn.Module) -> float:
    """A child of the model at column ``col``, its blocks stacked below it; returns the lowest y."""
    weighted = isinstance(child, (nn.Conv2d, nn.Linear))
    _box(ax, col, 0, name, _CONV_COLOR if weighted else _OTHER_COLOR, w=0.9, h=0.45)
    top = -0.4
    for block_name, block in child.named_children():
        parts = [n for n, _ in block.named_children()]
        h = 0.22 * (len(parts) + 1)
        projected = getattr(block, "downsample", None) is not None
        _box(ax, col, top - h / 2, "\n".join([f"{name}.{block_name}", *parts]),
             _PROJECTED_COLOR if projected else _CONV_COLOR, w=0.9, h=h, dashed=projected)
        top -= h + 0.15
    return top


def draw_module_tree(ax: Axes, model: nn.Module) -> Axes:
    """Draw a model's children as a row, each stage's blocks stacked below it (chapter 2).

    Blocks with a projection shortcut (``downsample``) are orange and dashed, other
    blocks, convolutions and ``fc`` are blue, the rest grey.
    """
    children = list(model.named_children())
    lowest = min([0.0] + [_stage_column(ax, col, name, child)
                          for col, (name, child) in enumerate(children)])
    ax.set_xlim(-0.6, len(children) - 0.4)
    ax.set_ylim(lowest - 0.1, 0.4)
    ax.axis("off")
    return ax
