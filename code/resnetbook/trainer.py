"""The one training step of the package, with its precision policy and device rule (chapters 5-7, stand-ins).

Every training loop of the package (``engine.fit``, ``transfer.train``,
``degradation.train_curve``, ``hymenoptera.train_epochs``, the stand-in detector) steps
through :class:`Trainer`, so they share, as d2l's ``Trainer`` does:

- **the precision policy** of :mod:`resnetbook.precision`: bfloat16 where the device computes
  it natively; float16 with a gradient scaler on other CUDA GPUs (Colab's T4), because small
  float16 gradients, such as chapter 6's in deep plain networks, would otherwise flush to zero;
  float32 everywhere else, or with ``amp=False``;
- **the device rule**: a model trains on ``resnetbook.device.get_device()`` unless the loop
  names a device; the trainer moves the model there once and every batch there each step;
- **the order of a step**: forward and loss under autocast, zero the gradients, backward
  (scaled), clip if asked, optimizer step, scheduler step, then the hooks (e.g. an EMA).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resnetbook.device import get_device
from resnetbook.precision import autocast, grad_scaler

# (model, inputs, targets) -> (outputs, loss): what one forward pass returns and what it is scored by.
Criterion = Callable[[nn.Module, Any, Any], tuple[Any, torch.Tensor]]
Hook = Callable[["Trainer"], None]


def cross_entropy(label_smoothing: float = 0.0) -> Criterion:
    """The classifiers' criterion: logits and their cross-entropy with the labels."""
    def criterion(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(X)
        return logits, F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    return criterion


def to_device(batch: Any, device: torch.device) -> Any:
    """A tensor, or lists, tuples and dicts of tensors, moved to ``device`` (a no-op where they are)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


class Trainer:
    """A model, its optimizer and schedule, trained one batch at a time by :meth:`step`.

    ``criterion`` defaults to :func:`cross_entropy`; ``amp`` turns the precision policy on;
    ``clip_grad_norm`` clips the (unscaled) gradients' norm; ``channels_last`` puts the model
    and every 4-D input in that memory format; ``hooks`` run after every step.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, *,
                 criterion: Criterion | None = None, device: torch.device | str | None = None,
                 amp: bool = True, clip_grad_norm: float | None = None, channels_last: bool = False,
                 hooks: Sequence[Hook] = ()) -> None:
        self.device = torch.device(device) if device is not None else get_device()
        # Module.to keeps each Parameter object, so an optimizer made before the move still holds them.
        self.model = model.to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer, self.scheduler = optimizer, scheduler
        self.criterion = criterion or cross_entropy()
        self.amp, self.clip_grad_norm, self.channels_last = amp, clip_grad_norm, channels_last
        self.scaler = grad_scaler(self.device, amp)  # enabled only where autocast runs in float16
        self.hooks = list(hooks)
        self.steps = 0

    def step(self, inputs: Any, targets: Any) -> tuple[Any, torch.Tensor]:
        """One optimizer step on a batch; return the forward pass's outputs and the loss.

        The model's mode (train, or a frozen backbone's eval) is the caller's to set.
        """
        inputs, targets = to_device(inputs, self.device), to_device(targets, self.device)
        if self.channels_last and isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp):
            outputs, loss = self.criterion(self.model, inputs, targets)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.scaler.step(self.optimizer)  # skipped when float16 gradients overflowed
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        self.steps += 1
        for hook in self.hooks:
            hook(self)
        return outputs, loss
