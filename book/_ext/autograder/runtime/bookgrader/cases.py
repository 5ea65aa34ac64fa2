"""Hidden cases: more inputs of the kind a public check uses, graded against reference values.

A hidden case names its inputs (for the message a student reads), makes them afresh
(deterministically: the same on the build machine and on Gradescope), and says what of the
result is compared (by default the result itself). The reference values come from the
chapter's worked solution, computed when the archive is built (book/_ext/autograder); the
archive holds the values, never the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _identity(out: Any, args: tuple) -> Any:
    return out


@dataclass(frozen=True)
class Case:
    """One hidden case of a student's function (all chapters' hidden specs)."""

    what: str
    args: Callable[[], tuple]
    probe: Callable[[Any, tuple], Any] = field(default=_identity)


def difference(got: Any, want: Any, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
    """None when ``got`` matches ``want`` (tensors within tolerance), else what differs, in words."""
    import torch

    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"returned {type(got).__name__}, expected a tensor"
        if tuple(got.shape) != tuple(want.shape):
            return f"returned shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        g, w = got.detach().double().cpu(), want.double()
        if not torch.allclose(g, w, rtol=rtol, atol=atol):
            return f"values differ from the expected ones (max |difference| {(g - w).abs().max().item():.3g})"
        return None
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"returned {type(got).__name__}, expected {type(want).__name__} of {len(want)} items"
        for i, (g, w) in enumerate(zip(got, want)):
            if (problem := difference(g, w, rtol, atol)) is not None:
                return f"item {i}: {problem}"
        return None
    if isinstance(want, float):
        ok = isinstance(got, (int, float)) and abs(got - want) <= atol + rtol * abs(want)
        return None if ok else f"returned {got!r}, expected {want:.6g}"
    return None if got == want else f"returned {got!r}, expected {want!r}"
