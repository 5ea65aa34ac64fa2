"""Self-check of chapter 7's browser exercise: the top-k classes of one image's logits.

``top_k(logits, categories, k)`` takes the scores of one image (a 1-D tensor, one per
class) and returns the ``k`` most probable classes as ``(name, probability)`` pairs, most
probable first, with the probabilities of the softmax as Python floats. The check compares
with probabilities computed by hand with :mod:`math` (never a worked solution), and says
which usual mistake it sees: raw logits, the wrong order, tensors, overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from resnetbook.check._base import call, expect, passed

NAMES = ("ant", "bee", "cat", "dog", "eel")


def _softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    e = [math.exp(s - top) for s in scores]
    return [v / sum(e) for v in e]


def _expected(scores: Sequence[float], k: int) -> list[tuple[str, float]]:
    probs = _softmax(scores)
    order = sorted(range(len(scores)), key=lambda i: (-probs[i], i))[:k]
    return [(NAMES[i], probs[i]) for i in order]


def _close(got: list, want: list) -> bool:
    return [n for n, _ in got] == [n for n, _ in want] and all(
        math.isclose(p, q, rel_tol=1e-5, abs_tol=1e-7) for (_, p), (_, q) in zip(got, want))


def _pairs(name: str, case: str, out: object, k: int) -> list[tuple[str, float]]:
    """``out`` as a list of (str, float) pairs, or a CheckFailed saying what it is instead."""
    expect(isinstance(out, (list, tuple)), name, f"{case}: return a list of (class, probability) pairs, "
           f"got {type(out).__name__}")
    expect(len(out) == k, name, f"{case}: asked for k={k} classes, got {len(out)}")
    for item in out:
        expect(isinstance(item, (list, tuple)) and len(item) == 2, name,
               f"{case}: each item must be a (class name, probability) pair, got {item!r}")
        expect(isinstance(item[0], str), name, f"{case}: the first item of each pair is the class name "
               f"(a str from categories), got {type(item[0]).__name__}")
        expect(isinstance(item[1], float) and not isinstance(item[1], bool), name,
               f"{case}: probabilities must be Python floats (use .item() or float()), got {type(item[1]).__name__}")
    return [(str(n), float(p)) for n, p in out]


def top_k(fn: Callable) -> None:
    """Check ``top_k(logits, categories, k)``: the ``k`` most probable classes, as (name, probability) pairs."""
    name = "top_k"
    scores = [1.0, 3.0, 0.5, 2.0, -1.0]
    logits = torch.tensor(scores)
    before = logits.clone()
    got = _pairs(name, "logits [1, 3, 0.5, 2, -1], k=3", call(name, "k=3", fn, logits, list(NAMES), 3), 3)
    want = _expected(scores, 3)
    expect(torch.equal(logits, before), name, "the logits were changed in place: compute on a copy")
    expect(not math.isclose(got[0][1], 3.0), name, "these look like the logits themselves: "
           "turn them into probabilities with the softmax (torch.softmax) first")
    expect([n for n, _ in got] != [n for n, _ in _expected(scores, 5)[::-1][:3]], name,
           "the classes come least probable first: sort from the most probable down")
    expect([n for n, _ in got] == [n for n, _ in want], name,
           f"expected the classes {[n for n, _ in want]} (most probable first), got {[n for n, _ in got]}: "
           "is each index looked up in categories?")
    expect(_close(got, want), name, f"expected the probabilities {[round(p, 4) for _, p in want]}, "
           f"got {[round(p, 4) for _, p in got]}")
    every = _pairs(name, "k=5", call(name, "k=5", fn, logits, list(NAMES), 5), 5)
    expect(math.isclose(sum(p for _, p in every), 1.0, rel_tol=1e-5), name,
           "with k equal to the number of classes the probabilities should add up to 1")
    big = [1000.0, 1001.0, 999.0, 990.0, 0.0]  # exp(1000) overflows: the softmax must not
    got = _pairs(name, "large logits", call(name, "logits near 1000", fn, torch.tensor(big), list(NAMES), 2), 2)
    expect(all(math.isfinite(p) for _, p in got) and _close(got, _expected(big, 2)), name,
           f"with logits near 1000 expected {[(n, round(p, 4)) for n, p in _expected(big, 2)]}, got {got}: "
           "exp(1000) overflows, so use torch.softmax (it subtracts the largest logit first)")
    passed(name, 4)
