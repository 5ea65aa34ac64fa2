"""Hidden cases of chapter 7 (the browser demo's top_k): other class counts, k and magnitudes.

The public check (resnetbook.check.ch7_browser) uses five classes; these use ten and a thousand.
"""

from __future__ import annotations

import torch

from bookgrader.cases import Case


def _args(seed: int, n: int, k: int, scale: float, shift: float) -> tuple:
    g = torch.Generator().manual_seed(7000 + seed)
    return (torch.randn(n, generator=g) * scale + shift, [f"class {i}" for i in range(n)], k)


CASES = {
    "top_k": [
        Case("ten classes, k=5", lambda: _args(1, 10, 5, 2.0, 0.0)),
        Case("a thousand classes with logits near 50, k=3", lambda: _args(2, 1000, 3, 4.0, 50.0)),
    ],
}
