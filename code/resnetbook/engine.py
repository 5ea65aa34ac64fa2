"""The fast engine: ``fit`` and its recipes (chapter 5's "going fast" section, stand-ins, benchmark).

Chapter 5's teaching loop reads ``resnetbook.training`` only; this module trains the
same tensors fast. Why it is fast on a CPU (airbench-style): the whole dataset is one
normalized tensor (no per-sample PIL transforms), augmentation works on whole batches,
convolutions run ``channels_last`` in bfloat16 where the CPU supports it, and a
one-cycle schedule with label smoothing, an EMA of the weights and flip test-time
augmentation gets the most out of few epochs. The benchmark's ``SPEED_RECIPE`` also
fixes the first layer to whitening filters computed from the data (``models.whiten_stem``).
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from resnetbook import models
from resnetbook.progress import bar as progress_bar
from resnetbook.trainer import Trainer, cross_entropy
from resnetbook.training import History, accuracy, augment, batches


@dataclass
class HParams:
    """Hyperparameters of one ``fit`` run (chapter 5, stand-ins, benchmark)."""

    epochs: float = 10            # fractions allowed: 0.5 trains on half of a shuffled epoch
    batch_size: int = 256
    lr: float = 0.1               # peak learning rate of the one-cycle schedule
    momentum: float = 0.9
    weight_decay: float = 5e-4
    pct_start: float = 0.25       # fraction of steps spent warming up
    label_smoothing: float = 0.1
    crop_padding: int = 2         # random shifts of up to this many pixels; 0 turns it off
    flip: bool = True
    ema_decay: float = 0.0        # per-step EMA of the weights; 0 turns it off
    tta: bool = True              # average predictions with the mirrored images
    amp: bool = True              # mixed precision where it pays (resnetbook.precision)
    channels_last: bool = True
    eval_every: float = 1.0       # evaluate every this many epochs (fractions allowed) and at each epoch's end
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive, got {self.epochs}, {self.batch_size}")
        if not 0 < self.eval_every <= 1:
            raise ValueError(f"eval_every must be in (0, 1] epochs, got {self.eval_every}")
        if self.lr <= 0 or not 0 <= self.ema_decay < 1 or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"need lr > 0, 0 <= ema_decay < 1, 0 <= label_smoothing < 1; got {self}")


class EMA:
    """Exponential moving average of a model's weights and BN statistics (chapter 5)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.steps = 0
        # Tensor lists built once: one fused lerp per step instead of a Python loop.
        pairs = list(zip(self.model.state_dict().values(), model.state_dict().values()))
        self._float = [(e, t) for e, t in pairs if e.dtype.is_floating_point]
        self._other = [(e, t) for e, t in pairs if not e.dtype.is_floating_point]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s weights; copy its integer buffers."""
        # Warm up: average over the steps so far until that is shorter than 1 / (1 - decay).
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        ema_ts, ts = zip(*self._float)
        torch._foreach_lerp_(list(ema_ts), list(ts), 1 - decay)
        for ema_t, t in self._other:
            ema_t.copy_(t)


def one_cycle(steps: int, pct_start: float = 0.25, start: float = 0.1,
              end: float = 0.001) -> Callable[[int], float]:
    """Learning-rate factor per step: linear from ``start`` up to 1, then linear down to ``end``.

    Written out rather than ``OneCycleLR``, which fails on runs of only a few steps.
    """
    warm = max(1, round(pct_start * steps))

    def factor(step: int) -> float:
        if step < warm:
            return start + (1 - start) * step / warm
        return 1 - (1 - end) * min(1.0, (step - warm) / max(1, steps - warm))

    return factor


def make_optimizer(model: nn.Module, hp: HParams,
                   steps: int) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LambdaLR]:
    """Nesterov SGD, no weight decay on BN/bias, and a one-cycle schedule over ``steps`` steps."""
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": hp.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=hp.lr, momentum=hp.momentum, nesterov=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, one_cycle(steps, hp.pct_start))
    return optimizer, scheduler


def make_trainer(model: nn.Module, hp: HParams, steps: int) -> tuple[Trainer, EMA | None]:
    """The shared :class:`~resnetbook.trainer.Trainer` for one ``fit`` run (the recipe's optimizer,
    schedule, loss, precision and memory format), and the EMA it updates after every step when
    ``hp.ema_decay > 0``."""
    optimizer, scheduler = make_optimizer(model, hp, steps)
    trainer = Trainer(model, optimizer, scheduler, criterion=cross_entropy(hp.label_smoothing), amp=hp.amp,
                      channels_last=hp.channels_last)
    if hp.ema_decay == 0:
        return trainer, None
    ema = EMA(trainer.model, hp.ema_decay)
    trainer.hooks.append(lambda t: ema.update(t.model))
    return trainer, ema


def _train_epoch(trainer: Trainer, hp: HParams, X: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
                 steps: int, checkpoints: set[int]) -> Iterator[tuple[int, float, float]]:
    """The first ``steps`` steps of one shuffled epoch, each batch augmented; after each step in
    ``checkpoints`` and the last, yield the step, the mean loss and the top-1 accuracy of the epoch so far."""
    loss_sum = torch.zeros((), device=trainer.device)  # summed on the device: no .item() per step
    correct = torch.zeros((), device=trainer.device)
    seen = 0
    epoch = batches(X, y, hp.batch_size, shuffle=True, generator=generator)
    for step, (xb, yb) in enumerate(itertools.islice(epoch, steps), 1):
        trainer.model.train()  # evaluations in between put it in eval mode
        logits, loss = trainer.step(augment(xb, hp.crop_padding, hp.flip, generator), yb)
        loss_sum += loss.detach() * len(yb)
        correct += (logits.argmax(1) == yb.to(trainer.device)).sum()
        seen += len(yb)
        if step in checkpoints or step == steps:
            yield step, loss_sum.item() / seen, correct.item() / seen


def fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, hp: HParams | None = None,
        X_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
        progress: bool = True, desc: str = "epochs") -> tuple[nn.Module, History]:
    """Train ``model`` on in-memory ``X``, ``y`` with the fast recipe ``hp`` (chapter 5, stand-ins, benchmark).

    Evaluates on ``X_val``, ``y_val`` every ``hp.eval_every`` epochs (and at the end
    of each epoch) when given; the time spent evaluating counts in ``History.seconds``.
    Returns the model to use for inference (the EMA copy when ``hp.ema_decay > 0``)
    and the history.
    """
    hp = hp or HParams()
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must be non-empty and equally long, got {len(X)} and {len(y)}")
    torch.manual_seed(hp.seed)
    generator = torch.Generator().manual_seed(hp.seed)
    per_epoch = math.ceil(len(X) / hp.batch_size)
    total = max(1, round(hp.epochs * per_epoch))
    checkpoints = {round(k * hp.eval_every * per_epoch) for k in range(1, math.ceil(1 / hp.eval_every))}
    trainer, ema = make_trainer(model, hp, total)
    inference_model = trainer.model if ema is None else ema.model  # the EMA copy when there is one
    history, start = History(), time.perf_counter()
    bar = progress_bar(range(math.ceil(total / per_epoch)), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        steps = min(per_epoch, total - epoch * per_epoch)
        for step, loss, train_acc in _train_epoch(trainer, hp, X, y, generator, steps, checkpoints):
            val_acc = math.nan if X_val is None else accuracy(inference_model, X_val, y_val,
                                                                hp.tta, hp.amp)
            history.record(epoch + step / per_epoch, loss, train_acc, val_acc, time.perf_counter() - start)
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{val_acc:.4f}")
    return inference_model, history


# ---------------------------------------------------------------- recipes shared by chapter 5 and the benchmark


@dataclass(frozen=True)
class Recipe:
    """A network (``resnetbook.models.fast_net`` keyword arguments) and its ``HParams`` (chapter 5, benchmark).

    With ``whiten``, the stem's filters are computed from the training images and
    frozen (``models.whiten_stem``), so ``build`` needs them.
    """

    net: dict
    hp: HParams
    whiten: bool = False

    def build(self, X: torch.Tensor | None = None) -> nn.Module:
        """A fresh network of this recipe; ``X``: the training images, needed with ``whiten``."""
        model = models.fast_net(**self.net)
        if self.whiten:
            if X is None:
                raise ValueError("this recipe whitens its stem: pass the training images, build(X_train)")
            models.whiten_stem(model, X)
        return model


# Shortest road to 90%: a frozen whitening stem (``models.whiten_stem``: 9 filters and
# their negatives, no batch norm), 0.7 of an epoch whose learning rate anneals to zero,
# evaluated once at its end (an evaluation with flip TTA costs about a tenth of an epoch).
# No random shifts or label smoothing (both slow early learning), an EMA of the weights.
# Measured in float32 on a 2-core Xeon without AMX, test accuracy on the benchmark's 5
# seeds: 0.7 epoch at lr 0.6, 90.16-90.58% (mean 90.34%); 0.65 epoch, 89.83-90.55%
# (two seeds under 90%). With the stem's batch norm (lr 0.4), 0.75 epoch gave 90.24% at least.
SPEED_RECIPE = Recipe(dict(widths=(32, 64, 128), stem=18),
                      HParams(epochs=0.7, batch_size=256, lr=0.6, crop_padding=0,
                              label_smoothing=0.0, ema_decay=0.98, eval_every=1.0),
                      whiten=True)
# The chapter's best configuration within its time budget. Random shifts cost
# accuracy in runs this short (measured with the earlier network, 5 epochs: 91.5%
# validation with 2-pixel shifts, 93.0% with mirroring only). Its training is the
# largest part of chapter 5's time after the starter network's 10 epochs, so it is
# short, and the whitened stem of ``SPEED_RECIPE`` makes the first epochs count.
# Measured in float32 on a 2-core Xeon without AMX, seed 0, 50k training images,
# validation evaluated every epoch (time included): with a learned 16-filter stem,
# 5 epochs 92.95% validation, 92.56% test in 50.8 s, 4 epochs 92.56% / 92.20% in 31.6 s;
# with the whitened stem, 4 epochs 93.22% / 92.75% in 40.8 s, 3 epochs 92.60% / 92.27% in 30.8 s;
# with the whitened stem and no batch norm after it, 4 epochs 92.79% / 92.85% in 34.8 s.
BEST_RECIPE = Recipe(dict(widths=(32, 64, 128), stem=18),
                     HParams(epochs=4, batch_size=256, lr=0.2, crop_padding=0, label_smoothing=0.1),
                     whiten=True)
