"""Chapter 7's top_k self-check: the typical wrong answers it catches (the contract every check keeps: test_exercise_contract.py)."""

from __future__ import annotations

import torch

from chapter_code import fails
from resnetbook import check


def test_another_correct_answer_passes(capsys):
    def by_sorting(logits, categories, k=5):
        p = torch.softmax(logits, 0)
        order = sorted(range(len(p)), key=lambda i: -p[i].item())[:k]
        return [(categories[i], float(p[i])) for i in order]

    check.top_k(by_sorting)
    assert "all 4 checks passed" in capsys.readouterr().out


def test_raw_logits_fail():
    fails(check.top_k, lambda z, c, k=5: [(c[i], float(z[i])) for i in z.topk(k).indices], "logits themselves")


def test_ascending_order_fails():
    fails(check.top_k, lambda z, c, k=5: [(c[i], float(p)) for p, i in zip(*torch.softmax(z, 0).topk(k, largest=False))],
          "least probable first")


def test_tensors_instead_of_floats_fail():
    fails(check.top_k, lambda z, c, k=5: [(c[i], p) for p, i in zip(*torch.softmax(z, 0).topk(k))], "Python floats")


def test_an_overflowing_softmax_fails():
    def naive(z, c, k=5):
        e = torch.exp(z)
        p = e / e.sum()
        return [(c[i], float(p[i])) for i in torch.argsort(-torch.nan_to_num(p, nan=0.0))[:k]]

    fails(check.top_k, naive, "overflows")


def test_changing_the_logits_in_place_fails():
    def in_place(z, c, k=5):
        p = z.sub_(z.max()).exp_()
        p /= p.sum()
        return [(c[i], float(p[i])) for i in p.topk(k).indices]

    fails(check.top_k, in_place, "in place")


def test_indices_instead_of_names_fail():
    fails(check.top_k, lambda z, c, k=5: [(i, float(p)) for p, i in zip(*torch.softmax(z, 0).topk(k))], "class name")
