"""Self-checks for chapter 6 (transfer learning): freezing a backbone, and batch norm when frozen.

The degradation half's check, ``block_input_grad_norms``, lives in ``ch6_shortcuts`` and is
re-exported here.

Each check builds the book's small ResNet (``models.FashionResNet``, depth 8, 3 classes)
with non-trivial batch-norm statistics, runs the student's function on it, and tests
the result's properties: which parameters train, which layers are in which mode, and
whether a training step changes the running statistics of frozen batch-norm layers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from resnetbook import models
from resnetbook.check._base import call, expect, passed
from resnetbook.check.ch6_shortcuts import block_input_grad_norms  # noqa: F401  (re-exported)

BatchNorm = nn.modules.batchnorm._BatchNorm  # BatchNorm1d/2d/3d and SyncBatchNorm


def _model(seed: int, dropout_head: bool = False) -> nn.Module:
    """A FashionResNet-8 with random batch-norm parameters and statistics, in eval mode."""
    torch.manual_seed(seed)
    model = models.FashionResNet(8, num_classes=3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    if dropout_head:  # a head that trains differently from how it predicts
        model.fc = nn.Sequential(nn.Dropout(0.5), nn.Linear(model.fc.in_features, 3))
    return model.eval()


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(6, 1, 28, 28, generator=g) * 2 + 1, torch.randint(0, 3, (6,), generator=g)


def _stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.clone() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))}


# ---------------------------------------------------------------- ch6-freeze


def freeze_backbone(fn: Callable[[nn.Module], object]) -> None:
    """Check ``freeze_backbone(model)``: only ``model.fc`` trains, and nothing else changes (ch6-freeze)."""
    name = "freeze_backbone"
    for seed, dropout_head in ((0, False), (1, True)):
        model = _model(seed, dropout_head)
        case = "freeze_backbone(model)" + (" with a Dropout + Linear head" if dropout_head else "")
        values = copy.deepcopy(model.state_dict())
        call(name, case, fn, model)
        expect(model.__dict__.get("requires_grad") is not False or any(
            not p.requires_grad for p in model.parameters()), name,
            f"{case}: `model.requires_grad = False` only gives the module a new attribute; it freezes nothing. "
            "requires_grad is a property of each parameter (model.parameters())")
        head = {f"fc.{n}" for n, _ in model.fc.named_parameters()}
        frozen_head = sorted(n for n, p in model.named_parameters() if n in head and not p.requires_grad)
        expect(not frozen_head, name, f"{case}: the head's parameters {frozen_head} are frozen too; "
               "the new fc is the one part that must train")
        training = [n for n, p in model.named_parameters() if n not in head and p.requires_grad]
        bn_names = {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, BatchNorm) for p in ("weight", "bias")}
        expect(not (training and set(training) <= bn_names), name,
               f"{case}: the batch-norm layers' weight and bias still train ({training[:2]}, ...). They are "
               "parameters too: freeze every parameter of the backbone, not only the convolutions' weights")
        expect(not training, name, f"{case}: {len(training)} backbone parameters still train, e.g. {training[0]}"
               if training else "")
        changed = [k for k, v in model.state_dict().items() if not torch.equal(v, values[k])]
        expect(not changed, name, f"{case} changed the values of {changed[:3]}: freezing must keep the pre-trained "
               "weights (and the head) as they are")
        expect(not model.training, name, f"{case} switched the model to training mode; leave its mode alone")
    passed(name, 2)


# ---------------------------------------------------------------- ch6-bn-frozen


def _partly_frozen(seed: int, frozen: str) -> nn.Module:
    """A model whose parameters under the named prefixes no longer train."""
    model = _model(seed, dropout_head=True)
    prefixes = {"none": (), "stem+layer1": ("conv1.", "bn1.", "layer1."),
                "backbone": ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")}[frozen]
    for n, p in model.named_parameters():
        if n.startswith(prefixes):
            p.requires_grad_(False)
    return model


def _mode_problem(model: nn.Module) -> str | None:
    """What is wrong with the modes of ``model``'s layers after train_mode, or None."""
    if not model.training:
        return ("the model is still in eval mode (it was in eval mode before the call): call model.train() first, "
                "then put the frozen batch-norm layers back in eval mode")
    for n, m in model.named_modules():
        is_bn = isinstance(m, BatchNorm)
        frozen = is_bn and not any(p.requires_grad for p in m.parameters())
        if frozen and m.training:
            return (f"{n} is a batch-norm layer whose parameters are frozen, but it is in training mode: it would "
                    "normalize with each batch's statistics and update running_mean and running_var. Put it in "
                    "eval mode (layer.eval()) after model.train()")
        if is_bn and not frozen and not m.training:
            return (f"{n} has trainable parameters but is in eval mode: only the batch-norm layers whose "
                    "parameters are all frozen should be")
        if isinstance(m, nn.Dropout) and not m.training:
            return (f"{n} ({type(m).__name__}) is in eval mode, so it stops regularizing the head: only the "
                    "batch-norm layers whose parameters are frozen should be (a Dropout has no parameters at all)")
    return None


def train_mode(fn: Callable[[nn.Module], object]) -> None:
    """Check ``train_mode(model)``: training mode except frozen batch-norm layers, whose statistics stay put (ch6-bn-frozen)."""
    name = "train_mode"
    cases = ("backbone", "stem+layer1", "none")
    for seed, frozen in enumerate(cases):
        model = _partly_frozen(seed, frozen)
        case = f"train_mode(model) with the {'parameters of ' + frozen if frozen != 'none' else 'no parameter'} frozen"
        grads = {n: p.requires_grad for n, p in model.named_parameters()}
        before = _stats(model)
        call(name, case, fn, model)
        expect({n: p.requires_grad for n, p in model.named_parameters()} == grads, name,
               f"{case} changed which parameters require grad; it should set modes only")
        problem = _mode_problem(model)
        expect(problem is None, name, f"{case}: {problem}")
        x, y = _batch(seed)
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        after = _stats(model)
        for n, m in model.named_modules():
            if isinstance(m, BatchNorm):
                moved = not torch.equal(after[f"{n}.running_mean"], before[f"{n}.running_mean"])
                frozen_bn = not any(p.requires_grad for p in m.parameters())
                expect(moved != frozen_bn, name, f"{case}: after a training step, {n}.running_mean "
                       f"{'changed' if moved else 'did not change'}, though {n} is "
                       f"{'frozen' if frozen_bn else 'trainable'}")
        call(name, case + " a second time", fn, model)
        expect(_mode_problem(model) is None, name, f"{case}, called twice: {_mode_problem(model)}")
    passed(name, len(cases))
