"""Finding lines in torchvision's installed source (chapter 1).

Chapter 1 reads the paper's residual block against torchvision's code: which lines
compute F(x), which line adds the shortcut, which lines build and apply the "dotted"
projection shortcut of Eq. 2. The line numbers come from parsing the installed file
with ``ast``, so they follow torchvision releases.

The functions that compute chapter 1's worked answers hold their bodies in
``### BEGIN SOLUTION`` regions: the student release replaces them.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from torch import nn


def _parse_function(func: Callable) -> tuple[ast.FunctionDef, int]:
    """Parse one function; return its AST and the file line of its first source line."""
    lines, start = inspect.getsourcelines(func)
    node = ast.parse(textwrap.dedent("".join(lines))).body[0]
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


def _branch_steps(block: type[nn.Module]) -> tuple[list[ast.Assign], int]:
    """The ``out = self.layer(...)`` steps of ``block.forward`` before the addition, and its first file line."""
    ### BEGIN SOLUTION
    node, start = _parse_function(block.forward)
    add = _shortcut_add(node)
    steps = [a for a in _assignments(node, "out") if _self_call(a.value) and a.lineno < add.lineno]
    if not steps:
        raise ValueError(f"{block.__name__}.forward has no 'out = self.layer(...)' steps")
    return steps, start
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
    steps, start = _branch_steps(block)
    return [_file_line(a, start) for a in steps]
    ### END SOLUTION


def residual_branch_layers(block: type[nn.Module]) -> list[str]:
    """Names of the layers F(x) applies in ``block.forward``, in order (chapter 1, ch1-residual-lines)."""
    ### BEGIN SOLUTION
    steps, _ = _branch_steps(block)
    return [_self_call(a.value) for a in steps]
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


def package_path(obj: object) -> str:
    """The file defining ``obj`` as a path inside its package, e.g. ``torchvision/models/resnet.py`` (chapter 1).

    The same on every machine, unlike the absolute path.
    """
    module = inspect.getmodule(obj)
    # torchvision.models.resnet is 3 path parts; a package's __init__.py adds one.
    depth = module.__name__.count(".") + 1 + hasattr(module, "__path__")
    return "/".join(Path(inspect.getsourcefile(obj)).parts[-depth:])


def read_lines(obj: object, numbers: Iterable[int]) -> dict[int, str]:
    """The text (stripped) of the given 1-based lines of the file defining ``obj`` (chapter 1)."""
    text = Path(inspect.getsourcefile(obj)).read_text(encoding="utf-8").splitlines()
    out = {}
    for n in numbers:
        if not 1 <= n <= len(text):
            raise ValueError(f"line {n} is outside {package_path(obj)} (1..{len(text)})")
        out[n] = text[n - 1].strip()
    return out
