"""Chapter 6's degradation self-check: the typical wrong answers it catches (the contract every check keeps: test_exercise_contract.py)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from chapter_code import fails, reference
from resnetbook import check, degradation

CHAPTER = "06_shortcuts_transfer"


@functools.cache
def ref():
    return reference(CHAPTER, "block_input_grad_norms")


def blocks(model: nn.Module) -> list[nn.Module]:
    return [b for layer in (model.layer1, model.layer2, model.layer3) for b in layer]


def measured(model, X, y, *, hook="pre", train=True, remove=True, squared=False):
    """A configurable answer: the reference's method with one typical mistake switched on."""
    kept, handles = [], []

    def keep(t: torch.Tensor) -> None:
        t.retain_grad()
        kept.append(t)

    for b in blocks(model):
        if hook == "pre":
            handles.append(b.register_forward_pre_hook(lambda m, a: keep(a[0])))
        else:  # the block's output instead of its input
            handles.append(b.register_forward_hook(lambda m, a, out: keep(out)))
    if train:
        model.train()
    F.cross_entropy(model(X), y).backward()
    if remove:
        for h in handles:
            h.remove()
    return [float(t.grad.norm() ** 2 if squared else t.grad.norm()) for t in kept]


def test_the_configurable_answer_without_mistakes_passes(capsys) -> None:
    check.block_input_grad_norms(measured)
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, message", [
    (dict(hook="post"), "shifted by one block"),
    (dict(train=False), "eval mode"),
    (dict(remove=False), "hooks are still registered"),
    (dict(squared=True), "squared"),
])
def test_typical_mistakes_fail_with_their_message(mistake, message) -> None:
    fails(check.block_input_grad_norms, functools.partial(measured, **mistake), message)


def test_reversed_order_and_weight_gradients_fail() -> None:
    fails(check.block_input_grad_norms, lambda m, X, y: measured(m, X, y)[::-1], "reverse order")
    fails(check.block_input_grad_norms, lambda m, X, y: measured(m, X, y)[:-1], "one norm per block")

    def weight_gradients(model, X, y):  # the probe's blocks have no weights: this answer crashes
        model.train()
        F.cross_entropy(model(X), y).backward()
        return [float(next(b.parameters()).grad.norm()) for b in blocks(model)]

    fails(check.block_input_grad_norms, weight_gradients, "raised StopIteration")


def test_reference_on_a_real_network_matches_autograd() -> None:
    torch.manual_seed(0)
    net = degradation.build(14, False, (4, 4, 8))
    X, y = torch.randn(8, 1, 12, 12), torch.randint(0, 10, (8,))
    norms = ref()(net, X, y)
    assert len(norms) == 6 and not any(b._forward_pre_hooks for b in blocks(net))
    # Independently: the input of the first block is the stem's output.
    net.zero_grad()
    stem = net.relu(net.bn1(net.conv1(X)))
    out = net.fc(torch.flatten(net.avgpool(net.layer3(net.layer2(net.layer1(stem)))), 1))
    (g,) = torch.autograd.grad(F.cross_entropy(out, y), stem)
    assert abs(norms[0] - float(g.norm())) < 1e-4 * float(g.norm())
