"""Chapter 6's transfer self-checks: the typical wrong answers they catch (the contract every check keeps: test_exercise_contract.py).

The worked solutions come from the chapter's scaffold cells (tests/chapter_code.py).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from chapter_code import fails, worked_solutions
from resnetbook import check

NAMES = ["freeze_backbone", "train_mode"]
solutions = worked_solutions("06_shortcuts_transfer", *NAMES)
BatchNorm = nn.modules.batchnorm._BatchNorm


def test_an_alternative_correct_freeze_passes(capsys) -> None:
    def freeze(model):
        model.requires_grad_(False)
        model.fc.requires_grad_(True)
        return model

    check.freeze_backbone(freeze)


# ---------------------------------------------------------------- freeze_backbone


def _attribute_only(model):
    model.requires_grad = False


def _everything(model):
    for p in model.parameters():
        p.requires_grad = False


def _convs_only(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.requires_grad_(False)


def _stem_only(model):
    for p in model.conv1.parameters():
        p.requires_grad_(False)


def _reinitialize_head(model):
    solutions.freeze_backbone(model)
    nn.init.zeros_(model.fc.weight if isinstance(model.fc, nn.Linear) else model.fc[1].weight)


def _and_train(model):
    solutions.freeze_backbone(model)
    model.train()


def test_freeze_backbone_wrong_answers() -> None:
    fails(check.freeze_backbone, _attribute_only, "only gives the module a new attribute")
    fails(check.freeze_backbone, _everything, "head's parameters .* are frozen too")
    fails(check.freeze_backbone, _convs_only, "batch-norm layers' weight and bias still train")
    fails(check.freeze_backbone, _stem_only, "backbone parameters still train, e.g. bn1.weight")
    fails(check.freeze_backbone, _reinitialize_head, "changed the values of")
    fails(check.freeze_backbone, _and_train, "switched the model to training mode")
    fails(check.freeze_backbone, lambda model: model.fcc, "raised AttributeError")


# ---------------------------------------------------------------- train_mode


def _whole_model_eval(model):
    model.eval()


def _all_bn_eval(model):
    model.train()
    for m in model.modules():
        if isinstance(m, BatchNorm):
            m.eval()


def _without_train_first(model):
    for m in model.modules():
        if isinstance(m, BatchNorm) and not any(p.requires_grad for p in m.parameters()):
            m.eval()


def _eval_except_head(model):
    model.eval()
    model.fc.train()


def _every_module_without_trainable_parameters(model):
    model.train()
    for m in model.modules():
        if not any(p.requires_grad for p in m.parameters()):
            m.eval()


def _freezes_too(model):
    solutions.freeze_backbone(model)
    solutions.train_mode(model)


def test_train_mode_wrong_answers() -> None:
    fails(check.train_mode, nn.Module.train, "bn1 is a batch-norm layer whose parameters are frozen, but it is in training mode")
    fails(check.train_mode, _whole_model_eval, "still in eval mode")
    fails(check.train_mode, _without_train_first, "still in eval mode")
    fails(check.train_mode, _all_bn_eval, "has trainable parameters but is in eval mode")
    fails(check.train_mode, _eval_except_head, "still in eval mode")
    fails(check.train_mode, _every_module_without_trainable_parameters, "fc.0 \\(Dropout\\) is in eval mode")
    fails(check.train_mode, _freezes_too, "changed which parameters require grad")


# ---------------------------------------------------------------- the fact the chapter states


def _probe_model() -> nn.Module:
    from resnetbook import models

    torch.manual_seed(0)
    model = models.FashionResNet(8, num_classes=3)
    solutions.freeze_backbone(model)
    return model


@pytest.mark.parametrize("keep_frozen_bn_in_eval", [False, True])
def test_frozen_parameters_do_not_freeze_batch_norm_statistics(keep_frozen_bn_in_eval: bool) -> None:
    """requires_grad=False stops the gradient, not the running statistics: only eval mode does."""
    from resnetbook import transfer

    model = _probe_model()
    before = transfer.running_stats(model)
    (solutions.train_mode if keep_frozen_bn_in_eval else nn.Module.train)(model)
    x = torch.randn(8, 1, 28, 28) * 3 + 2  # far from the initial statistics (0 and 1)
    torch.nn.functional.cross_entropy(model(x), torch.zeros(8, dtype=torch.long)).backward()
    assert transfer.trainable(model) == ["fc.weight", "fc.bias"]
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("fc."))
    change = transfer.stats_change(before, model)
    assert (change == 0.0) if keep_frozen_bn_in_eval else (change > 0.1)
