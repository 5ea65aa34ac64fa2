"""The worked solutions of chapter 6's transfer exercises, as the chapter's scaffold cells hold them.

They live in the chapter (inside ``### BEGIN SOLUTION`` regions) and here for the tests, never
in the package students install.
"""

from __future__ import annotations

from torch import nn


def freeze_backbone(model: nn.Module) -> None:
    """Make every parameter of ``model`` untrainable except those of ``model.fc``."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("fc."))


def train_mode(model: nn.Module) -> None:
    """Training mode, except the batch-norm layers whose parameters are all frozen: they stay in eval mode."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()):
            module.eval()
