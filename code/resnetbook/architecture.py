"""Reading ResNets: torchvision's source lines, module trees, layer counts, block drawings.

Chapter 1 finds the paper's residual block in the *installed* torchvision source
(line numbers come from parsing the file, so they follow torchvision releases);
chapter 2 lists, draws and counts the modules of a ResNet.

The functions that compute chapter 1's worked answers (which class, which lines) hold
their bodies in ``### BEGIN SOLUTION`` regions: the student release replaces them.
"""

from __future__ import annotations

import ast
import html
import inspect
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from torch import nn
from torchvision.models import resnet as tv_resnet

# ---------------------------------------------------------------------------
# Source code: where things are, as line numbers of the installed file
# ---------------------------------------------------------------------------


def _parse_function(func: Callable) -> tuple[ast.FunctionDef, int]:
    """Parse one function; return its AST and the file line of its first source line."""
    if not callable(func):
        raise ValueError(f"expected a function or method, got {type(func).__name__}")
    lines, start = inspect.getsourcelines(func)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise ValueError(f"{func.__qualname__} is not a plain function definition")
    return node, start


def _file_line(node: ast.AST, start: int) -> int:
    """AST line numbers count from the function's first line; make them file lines."""
    return start + node.lineno - 1


def _self_call(value: ast.AST) -> str | None:
    """Return ``attr`` when ``value`` is a call ``self.attr(...)``, else None."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        owner = value.func.value
        if isinstance(owner, ast.Name) and owner.id == "self":
            return value.func.attr
    return None


def _assignments(node: ast.FunctionDef, target: str) -> list[ast.Assign]:
    """All ``target = ...`` statements in a function, nested ones included, in line order."""
    found = [n for n in ast.walk(node) if isinstance(n, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == target for t in n.targets)]
    return sorted(found, key=lambda n: n.lineno)


def _shortcut_add(node: ast.FunctionDef) -> ast.stmt:
    """The statement of ``forward`` that adds the shortcut's output (chapter 1)."""
    ### BEGIN SOLUTION
    for stmt in ast.walk(node):
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
            return stmt
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.BinOp) \
                and isinstance(stmt.value.op, ast.Add):
            return stmt
    raise ValueError("no addition of a shortcut found in this forward()")
    ### END SOLUTION


def shortcut_add_line(block: type[nn.Module]) -> int:
    """File line where ``block.forward`` adds the shortcut to F(x) (chapter 1, ch1-shortcut-add)."""
    ### BEGIN SOLUTION
    node, start = _parse_function(block.forward)
    return _file_line(_shortcut_add(node), start)
    ### END SOLUTION


def residual_branch_lines(block: type[nn.Module]) -> list[int]:
    """File lines of ``block.forward`` that compute F(x) (chapter 1, ch1-residual-lines)."""
    ### BEGIN SOLUTION
    node, start = _parse_function(block.forward)
    add = _shortcut_add(node)
    steps = [a for a in _assignments(node, "out") if _self_call(a.value) and a.lineno < add.lineno]
    if not steps:
        raise ValueError(f"{block.__name__}.forward has no 'out = self.layer(...)' steps")
    return [_file_line(a, start) for a in steps]
    ### END SOLUTION


def residual_branch_layers(block: type[nn.Module]) -> list[str]:
    """Names of the layers F(x) applies in ``block.forward``, in order (chapter 1, ch1-residual-lines)."""
    ### BEGIN SOLUTION
    node, _ = _parse_function(block.forward)
    add = _shortcut_add(node)
    return [_self_call(a.value) for a in _assignments(node, "out")
            if _self_call(a.value) and a.lineno < add.lineno]
    ### END SOLUTION


@dataclass(frozen=True)
class ProjectionShortcut:
    """Where the "dotted" shortcut W_s x of Eq. 2 lives in torchvision (chapter 1, ch1-dotted-shortcut).

    ``condition``: the line deciding when a projection is built; ``build``: the lines
    building it; ``apply``: the lines applying it. All are file line numbers.
    """

    condition: int
    build: list[int]
    apply: list[int]


def _enclosing_if(node: ast.FunctionDef, child: ast.stmt) -> ast.If:
    """The ``if`` statement whose body holds ``child``."""
    for stmt in ast.walk(node):
        if isinstance(stmt, ast.If) and child in stmt.body:
            return stmt
    raise ValueError("the statement is not inside an if")


def projection_shortcut(resnet: type[nn.Module], block: type[nn.Module]) -> ProjectionShortcut:
    """Find the lines that build and apply the projection shortcut (chapter 1, ch1-dotted-shortcut)."""
    ### BEGIN SOLUTION
    make_layer, start = _parse_function(resnet._make_layer)
    built = [a for a in _assignments(make_layer, "downsample") if isinstance(a.value, ast.Call)]
    if len(built) != 1:
        raise ValueError(f"expected one 'downsample = ...(...)' in _make_layer, found {len(built)}")
    condition = _enclosing_if(make_layer, built[0])
    forward, fstart = _parse_function(block.forward)
    applied = [a for a in _assignments(forward, "identity") if _self_call(a.value) == "downsample"]
    if len(applied) != 1:
        raise ValueError(f"expected one 'identity = self.downsample(x)', found {len(applied)}")
    guard = _enclosing_if(forward, applied[0])
    return ProjectionShortcut(
        condition=_file_line(condition, start),
        build=list(range(_file_line(built[0], start), start + built[0].end_lineno)),
        apply=[_file_line(guard, fstart), _file_line(applied[0], fstart)],
    )
    ### END SOLUTION


def source_file(obj: object) -> str:
    """Path of the installed file defining ``obj`` (chapter 1)."""
    return inspect.getsourcefile(obj)


def package_path(path: str) -> str:
    """A file's path inside site-packages, e.g. ``torchvision/models/resnet.py`` (chapter 1).

    The same on every machine, unlike the absolute path.
    """
    parts = path.replace("\\", "/").split("/")
    for anchor in ("site-packages", "dist-packages"):
        if anchor in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(anchor):])
    return parts[-1]


def read_lines(obj: object, numbers: Iterable[int]) -> dict[int, str]:
    """The text (stripped) of the given 1-based lines of the file defining ``obj`` (chapter 1, tests)."""
    with open(source_file(obj), encoding="utf-8") as f:
        text = f.read().splitlines()
    out = {}
    for n in numbers:
        if not 1 <= n <= len(text):
            raise ValueError(f"line {n} is outside {source_file(obj)} (1..{len(text)})")
        out[n] = text[n - 1].strip()
    return out


# ---------------------------------------------------------------------------
# Showing source with numbered, highlighted lines
# ---------------------------------------------------------------------------


_HIGHLIGHT = "background-color: #ffd966"


@dataclass
class HighlightedSource:
    """Source lines numbered as in their file, some highlighted (chapter 1).

    Displays as HTML in the book (Pygments) and as plain text elsewhere, where a
    ``>`` marks the highlighted lines.
    """

    path: str
    start: int
    lines: list[str]
    highlight: set[int]

    def __repr__(self) -> str:
        width = len(str(self.start + len(self.lines)))
        rows = [f"{n:>{width}} {'>' if n in self.highlight else ' '} {line.rstrip()}"
                for n, line in enumerate(self.lines, self.start)]
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        from pygments import highlight as render
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        relative = sorted(n - self.start + 1 for n in self.highlight)
        formatter = HtmlFormatter(linenos="inline", linenostart=self.start, hl_lines=relative,
                                  noclasses=True, style="friendly")
        body = render("".join(self.lines), PythonLexer(stripnl=False), formatter)
        # Pygments' default highlight is too pale to spot on the book's pages.
        body = body.replace(f"background-color: {formatter.style.highlight_color}", _HIGHLIGHT)
        last = self.start + len(self.lines) - 1
        caption = f"{self.label}, lines {self.start}-{last}"
        return (f"<div><p style='margin:0;font-size:85%;color:#555'>{html.escape(caption)}</p>"
                f"{body}</div>")

    @property
    def label(self) -> str:
        """The file as a package path: the same on every machine."""
        return package_path(self.path)


def show_source(obj: object, highlight: Iterable[int] = (),
                first: int | None = None, last: int | None = None) -> HighlightedSource:
    """Source of a class/function (or of file lines ``first..last``), lines numbered as in the file.

    Chapter 1. ``highlight`` holds file line numbers.
    """
    lines, start = inspect.getsourcelines(obj)
    if first is not None or last is not None:
        first = start if first is None else first
        last = start + len(lines) - 1 if last is None else last
        if not start <= first <= last < start + len(lines):
            raise ValueError(f"lines {first}..{last} are outside {start}..{start + len(lines) - 1}")
        lines, start = lines[first - start:last - start + 1], first
    return HighlightedSource(source_file(obj), start, lines, set(highlight))


# ---------------------------------------------------------------------------
# Blocks: which class is Figure 2, shapes through a block
# ---------------------------------------------------------------------------


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
             if isinstance(m, nn.Conv2d) and "downsample" not in name]
    return BlockSummary(
        name=block.__name__,
        expansion=block.expansion,
        kernel_sizes=[c.kernel_size[0] for c in convs],
        channels=[(c.in_channels, c.out_channels) for c in convs],
        parameters=sum(p.numel() for p in module.parameters()),
    )


def block_classes(module: object) -> list[type[nn.Module]]:
    """The residual block classes a module defines (chapter 1, ch1-figure2-class)."""
    ### BEGIN SOLUTION
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, nn.Module) and hasattr(obj, "expansion")
            and obj.__module__ == module.__name__]
    ### END SOLUTION


def figure2_class(module: object) -> type[nn.Module]:
    """The class of ``module`` implementing the block of the paper's Figure 2 (chapter 1, ch1-figure2-class).

    Raises ``ValueError`` unless exactly one class fits.
    """
    ### BEGIN SOLUTION
    fits = [b for b in block_classes(module)
            if summarize_block(b, 64, 64).kernel_sizes == [3, 3] and b.expansion == 1]
    if len(fits) != 1:
        raise ValueError(f"expected one block with two 3x3 convs and expansion 1, found {fits}")
    return fits[0]
    ### END SOLUTION


def trace_shapes(module: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Output shape of every leaf module when ``x`` goes through ``module``, in call order (chapters 1-2)."""
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


# ---------------------------------------------------------------------------
# Module trees and layer counts
# ---------------------------------------------------------------------------


def module_tree(model: nn.Module, max_depth: int | None = None) -> list[str]:
    """One line per module: indented qualified name and what it is (chapter 2)."""
    rows = []
    for name, m in model.named_modules():
        depth = 0 if not name else name.count(".") + 1
        if max_depth is not None and depth > max_depth:
            continue
        leaf = not list(m.children())
        what = f"{type(m).__name__}({m.extra_repr()})" if leaf else type(m).__name__
        rows.append(f"{'  ' * depth}{name or '(model)'}: {what}")
    return rows


def is_shortcut(name: str) -> bool:
    """True for modules on a projection shortcut (inside a block's ``downsample``) (chapter 2)."""
    return "downsample" in name.split(".")


def counted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The weighted layers a ResNet's depth counts, with their names (chapter 2; the stand-in note).

    Which layers these are, and why, is chapter 2's exercise ch2-uncounted-convs.
    """
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not is_shortcut(n)]


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks of a ResNet (modules with a ``downsample`` attribute), in order (chapters 1-2)."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "downsample") and n]


# ---------------------------------------------------------------------------
# Drawings
# ---------------------------------------------------------------------------

_CONV_COLOR, _OTHER_COLOR, _SHORTCUT_COLOR = "#cfe2f3", "#eeeeee", "#fde9c9"


def _box(ax: Axes, x: float, y: float, text: str, color: str, w: float = 2.2, h: float = 0.5,
         dashed: bool = False) -> None:
    """A rounded box centred at (x, y) with a label."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05",
                                fc=color, ec="black", ls="--" if dashed else "-", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=8)


def _arrow(ax: Axes, a: tuple[float, float], b: tuple[float, float], dashed: bool = False,
           rad: float = 0.0) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, lw=1.2,
                                 ls="--" if dashed else "-", connectionstyle=f"arc3,rad={rad}"))


def draw_block(ax: Axes, block: nn.Module, title: str = "") -> Axes:
    """Draw one BasicBlock as in the paper's Figure 2, from the module itself (chapter 1).

    The shortcut is solid for the identity and dotted for a projection (``downsample``).
    """
    if not isinstance(block, tv_resnet.BasicBlock):
        raise ValueError(f"draw_block draws a BasicBlock, got {type(block).__name__}")
    c1, c2 = block.conv1, block.conv2
    steps = [(f"{c1.kernel_size[0]}x{c1.kernel_size[1]} conv, {c1.out_channels}"
              + (f", /{c1.stride[0]}" if c1.stride[0] > 1 else ""), _CONV_COLOR),
             ("BN, ReLU", _OTHER_COLOR),
             (f"{c2.kernel_size[0]}x{c2.kernel_size[1]} conv, {c2.out_channels}", _CONV_COLOR),
             ("BN", _OTHER_COLOR)]
    ys = [5 - i for i in range(len(steps))]
    ax.text(0, 6.0, r"$\mathbf{x}$" + f"  ({c1.in_channels} ch)", ha="center", fontsize=9)
    _arrow(ax, (0, 5.85), (0, ys[0] + 0.3))
    for (text, color), y in zip(steps, ys):
        _box(ax, 0, y, text, color)
    for y0, y1 in zip(ys, ys[1:]):
        _arrow(ax, (0, y0 - 0.3), (0, y1 + 0.3))
    plus_y = ys[-1] - 1
    _arrow(ax, (0, ys[-1] - 0.3), (0, plus_y + 0.2))
    ax.add_patch(_circle(plus_y))
    ax.text(0, plus_y, "+", ha="center", va="center", fontsize=11)
    _box(ax, 0, plus_y - 1, "ReLU", _OTHER_COLOR, w=1.2)
    _arrow(ax, (0, plus_y - 0.2), (0, plus_y - 0.7))
    ax.text(-1.3, (ys[0] + ys[-1]) / 2, r"$\mathcal{F}(\mathbf{x})$", ha="right", fontsize=10)
    projected = block.downsample is not None
    label = ("projection $W_s\\mathbf{x}$\n1x1 conv + BN" if projected else "identity $\\mathbf{x}$")
    # The shortcut leaves x above the first layer and rejoins at the addition.
    style = dict(color="#b45f06", lw=1.5, ls="--" if projected else "-")
    ax.plot([0, 1.9, 1.9], [5.6, 5.6, plus_y], **style)
    ax.add_patch(FancyArrowPatch((1.9, plus_y), (0.22, plus_y), arrowstyle="-|>",
                                 mutation_scale=10, **style))
    ax.text(2.2, (ys[0] + ys[-1]) / 2, label, ha="left", va="center", fontsize=8, color="#b45f06")
    ax.set_xlim(-3, 4.2)
    ax.set_ylim(plus_y - 1.5, 6.4)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    return ax


def _circle(y: float) -> Circle:
    """The circle of the addition node."""
    return Circle((0, y), 0.2, fc="white", ec="black")


def draw_stages(ax: Axes, model: nn.Module, stages: tuple[str, ...] = ("layer1", "layer2")) -> Axes:
    """Draw the blocks of some stages in a row with their shortcuts (chapter 1).

    Solid arcs are identity shortcuts, dotted arcs projections; read from the model.
    """
    blocks = [(n, m) for n, m in residual_blocks(model) if n.split(".")[0] in stages]
    if not blocks:
        raise ValueError(f"no residual blocks in stages {stages}")
    for i, (name, block) in enumerate(blocks):
        x = 3.0 * i
        c = block.conv1
        stride = f", /{c.stride[0]}" if c.stride[0] > 1 else ""
        _box(ax, x, 0, f"{name}\n{c.in_channels}->{block.conv2.out_channels}{stride}",
             _CONV_COLOR, w=2.0, h=0.9)
        if i:
            _arrow(ax, (x - 2.0, 0), (x - 1.05, 0))
        projected = block.downsample is not None
        ax.add_patch(FancyArrowPatch((x - 1.1, 0.45), (x + 1.1, 0.45), arrowstyle="-|>",
                                     mutation_scale=10, lw=1.5, ls="--" if projected else "-",
                                     color="#b45f06", connectionstyle="arc3,rad=-0.6"))
        ax.text(x, 1.35, "projection" if projected else "identity", ha="center",
                fontsize=8, color="#b45f06")
    ax.set_xlim(-1.5, 3.0 * len(blocks) - 1.5)
    ax.set_ylim(-0.9, 1.8)
    ax.axis("off")
    return ax


def draw_module_tree(ax: Axes, model: nn.Module) -> Axes:
    """Draw a model's children as a row, each stage's blocks stacked below it (chapter 2).

    Blocks with a projection shortcut (``downsample``) are orange and dashed;
    modules holding counted layers (convolutions, ``fc``) are blue, others grey.
    """
    children = list(model.named_children())
    lowest = 0.0
    for col, (name, child) in enumerate(children):
        _box(ax, col, 0, name, _tree_color(child), w=0.9, h=0.45)
        top = -0.4
        for bname, block in child.named_children():
            parts = [n for n, _ in block.named_children()]
            h = 0.22 * (len(parts) + 1)
            projected = getattr(block, "downsample", None) is not None
            _box(ax, col, top - h / 2, "\n".join([f"{name}.{bname}", *parts]),
                 _SHORTCUT_COLOR if projected else _CONV_COLOR, w=0.9, h=h, dashed=projected)
            top -= h + 0.15
        lowest = min(lowest, top)
    ax.set_xlim(-0.6, len(children) - 0.4)
    ax.set_ylim(lowest - 0.1, 0.4)
    ax.axis("off")
    return ax


def _tree_color(module: nn.Module) -> str:
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        return _CONV_COLOR
    return _OTHER_COLOR
