"""Transfer learning: reuse a trained ResNet on new classes with few labels (chapter 6).

The offline task: pre-train the book's ResNet on FashionMNIST's first five classes
(T-shirt/top ... coat), then learn the other five (sandal ... ankle boot) from 10,
100 or 1,000 labels per class in three ways:

- ``linear probe``: the pre-trained backbone frozen, only a new ``fc`` trained;
- ``fine-tune``: the whole network trained, starting from the pre-trained weights;
- ``from scratch``: the same architecture from a random initialization.

How to freeze a backbone, and how to keep its batch-norm layers from updating their
running statistics, are the chapter's exercises: the functions that do it are
passed in (``freeze``, ``train_mode``), so this module holds no worked answer.
The same loop (:func:`train`) trains every network, here and on the ants-and-bees
photos of the online part (``resnetbook.hymenoptera``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torch import nn

from resnetbook import data, models, training
from resnetbook.device import get_device
from resnetbook.trainer import Trainer

PRETRAIN_CLASSES = (0, 1, 2, 3, 4)  # T-shirt/top, trouser, pullover, dress, coat
TARGET_CLASSES = (5, 6, 7, 8, 9)  # sandal, shirt, sneaker, bag, ankle boot
LABEL_COUNTS = (10, 100, 1000)  # labels per target class
METHODS = ("linear probe", "fine-tune", "from scratch")
DEPTH = 8  # models.FashionResNet's smallest depth: the chapter's whole budget is 3 minutes of CPU
POOL = 2  # images average-pooled 28x28 -> 14x14, as in the chapter's degradation half

Freeze = Callable[[nn.Module], object]  # makes every parameter but fc's untrainable
TrainMode = Callable[[nn.Module], object]  # puts a model in the mode it trains in


@dataclass
class TransferTask:
    """Normalized, pooled images ``[N,1,28/pool,28/pool]`` and labels 0..4 of both halves of FashionMNIST (chapter 6).

    ``X_pre``/``y_pre``: the training images of :data:`PRETRAIN_CLASSES`; ``X_train``/
    ``y_train`` and ``X_test``/``y_test``: the training and test images of
    :data:`TARGET_CLASSES`, relabelled 0..4 in that order. Every split is normalized
    with the mean and std of ``X_pre``, the pre-trained network's preprocessing.
    """

    X_pre: torch.Tensor
    y_pre: torch.Tensor
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    target_names: tuple[str, ...]


@dataclass
class HParams:
    """SGD steps, batch size and peak learning rate of one training run (chapter 6)."""

    steps: int
    lr: float
    batch_size: int = 128
    weight_decay: float = 5e-4
    augment: bool = True  # random shifts of up to ``shift`` pixels and mirroring (training.augment)
    shift: int = 2


@dataclass
class Result:
    """One transfer run: test accuracy on the target classes, and what it cost (chapter 6).

    ``stats_change`` is the largest change of any batch-norm running statistic of the
    backbone during training: 0 when the frozen batch-norm layers stayed in eval mode.
    """

    method: str
    labels_per_class: int
    seed: int
    accuracy: float
    seconds: float
    stats_change: float


def split_classes(X: torch.Tensor, y: torch.Tensor, classes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The examples of ``classes`` only, relabelled 0, 1, ... in the order given (chapter 6)."""
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be distinct and non-empty, got {classes}")
    keep = torch.isin(y, torch.as_tensor(classes, device=y.device))
    relabel = torch.full((max(int(y.max()), *classes) + 1,), -1, dtype=torch.long, device=y.device)
    relabel[torch.as_tensor(classes, device=y.device)] = torch.arange(len(classes), device=y.device)
    return X[keep], relabel[y[keep]]


def labelled_subset(X: torch.Tensor, y: torch.Tensor, per_class: int,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` random examples of every class of ``y``, drawn with ``generator`` (chapter 6)."""
    picked = []
    for label in torch.unique(y).tolist():
        where = torch.nonzero(y == label).flatten().cpu()
        if len(where) < per_class or per_class < 1:
            raise ValueError(f"class {label} has {len(where)} examples; cannot draw {per_class} (need >= 1)")
        picked.append(where[torch.randperm(len(where), generator=generator)[:per_class]])
    order = torch.cat(picked).to(y.device)
    return X[order], y[order]


def transfer_task(dataset=None, device: torch.device | str | None = None, pool: int = POOL) -> TransferTask:
    """The offline task from ``resnetbook.data.load_fashion_mnist()`` (default), images average-pooled by ``pool`` (chapter 6)."""
    dataset = dataset or data.load_fashion_mnist()
    pre_images, y_pre = split_classes(dataset.train_images, dataset.train_labels, PRETRAIN_CLASSES)
    mean, std = training.pixel_stats(pre_images)
    device = torch.device(device) if device is not None else get_device()

    def prep(images: torch.Tensor) -> torch.Tensor:
        X = training.normalize(images, mean, std)
        return (F.avg_pool2d(X, pool) if pool > 1 else X).to(device)

    train_images, y_train = split_classes(dataset.train_images, dataset.train_labels, TARGET_CLASSES)
    test_images, y_test = split_classes(dataset.test_images, dataset.test_labels, TARGET_CLASSES)
    return TransferTask(prep(pre_images), y_pre.to(device), prep(train_images), y_train.to(device),
                        prep(test_images), y_test.to(device),
                        tuple(dataset.classes[c] for c in TARGET_CLASSES))


def new_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace ``model.fc`` by a fresh ``nn.Linear`` with ``num_classes`` outputs; return ``model`` (chapter 6)."""
    old = model.fc
    model.fc = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    return model


def trainable(model: nn.Module) -> list[str]:
    """Names of the parameters that will train (``requires_grad``) (chapter 6)."""
    return [name for name, p in model.named_parameters() if p.requires_grad]


def running_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every batch-norm ``running_mean`` and ``running_var`` of ``model`` (chapter 6)."""
    return {name: buffer.detach().clone() for name, buffer in model.named_buffers()
            if name.endswith(("running_mean", "running_var"))}


def stats_change(before: dict[str, torch.Tensor], model: nn.Module) -> float:
    """Largest absolute change of a running statistic since ``before`` (:func:`running_stats`) (chapter 6)."""
    after = running_stats(model)
    return max((float((after[k] - v).abs().max()) for k, v in before.items()), default=0.0)


def train(model: nn.Module, X: torch.Tensor, y: torch.Tensor, hp: HParams, seed: int = 0,
          train_mode: TrainMode | None = None) -> nn.Module:
    """Train the parameters of ``model`` that require grad on ``X``, ``y`` (chapter 6, all three methods).

    Nesterov SGD with a learning rate that decays linearly from ``hp.lr`` to 0, on shuffled
    batches (with ``hp.augment``, randomly shifted and mirrored), through the shared
    :class:`~resnetbook.trainer.Trainer` (its precision policy and device rule).
    Before the first step ``train_mode(model)`` sets the mode (default ``model.train()``).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no parameter of the model requires grad: nothing to train")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(params, lr=hp.lr, momentum=0.9, nesterov=True, weight_decay=hp.weight_decay)
    decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / hp.steps)
    # channels_last: faster convolutions on CPUs and GPUs
    trainer = Trainer(model, optimizer, decay, channels_last=True)
    (train_mode or nn.Module.train)(model)
    for _, (xb, yb) in zip(range(hp.steps), _endless_batches(X, y, hp.batch_size, generator)):
        if hp.augment:
            xb = training.augment(xb, padding=hp.shift, flip=True, generator=generator)
        trainer.step(xb, yb)
    return model


def _endless_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int,
                     generator: torch.Generator) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled batches of at most ``batch_size``, epoch after epoch."""
    while True:
        yield from training.batches(X, y, min(batch_size, len(X)), shuffle=True, generator=generator)


def pretrain(task: TransferTask, hp: HParams, seed: int = 0) -> nn.Module:
    """``models.FashionResNet`` trained on the five pre-training classes (chapter 6)."""
    torch.manual_seed(seed)
    model = models.FashionResNet(DEPTH, len(PRETRAIN_CLASSES)).to(task.X_pre.device)
    return train(model, task.X_pre, task.y_pre, hp, seed)


def prepare(method: str, pretrained: nn.Module, num_classes: int, seed: int, freeze: Freeze) -> nn.Module:
    """The network a method starts from: a copy of ``pretrained`` with a new head, or a fresh one (chapter 6)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    torch.manual_seed(1000 + seed)  # the new head's or scratch network's init: not pretrain()'s draw
    if method == "from scratch":
        return models.FashionResNet(DEPTH, num_classes).to(next(pretrained.parameters()).device)
    model = new_head(copy.deepcopy(pretrained), num_classes)
    if method == "linear probe":
        freeze(model)
    return model


def run(method: str, pretrained: nn.Module, task: TransferTask, per_class: int, hp: HParams,
        seed: int, freeze: Freeze, train_mode: TrainMode) -> Result:
    """One transfer run: draw the labelled subset, prepare, train, test (chapter 6)."""
    start = time.perf_counter()
    X, y = labelled_subset(task.X_train, task.y_train, per_class, torch.Generator().manual_seed(seed))
    model = prepare(method, pretrained, len(task.target_names), seed, freeze)
    before = running_stats(model)
    train(model, X, y, hp, seed, train_mode)
    change = stats_change(before, model) if method == "linear probe" else float("nan")
    acc = training.accuracy(model, task.X_test, task.y_test)
    return Result(method, per_class, seed, acc, time.perf_counter() - start, change)


# Sized for the chapter's budget (the chapter prints what pre-training and the nine runs took;
# the steps cost the same for every method, except that the probe's backward pass stops at fc).
# Fine-tuning starts from trained weights, so it takes a smaller rate than from scratch.
PRETRAIN = HParams(steps=200, lr=0.2, shift=1)  # about 0.85 epoch of the 30,000 pre-training images
STEPS = {10: (60, 50), 100: (60, 128), 1000: (120, 128)}  # labels per class -> (steps, batch size)
LR = {"linear probe": 0.2, "fine-tune": 0.05, "from scratch": 0.1}


def hparams(method: str, per_class: int) -> HParams:
    """The chapter's hyperparameters of ``method`` with ``per_class`` labels (chapter 6)."""
    steps, batch_size = STEPS[per_class]
    return HParams(steps=steps, lr=LR[method], batch_size=batch_size, shift=PRETRAIN.shift)


def compare(pretrained: nn.Module, task: TransferTask, freeze: Freeze, train_mode: TrainMode, seed: int = 0,
            label_counts: Sequence[int] = LABEL_COUNTS, progress: bool = True) -> list[Result]:
    """Every method at every label count, with :func:`hparams` (chapter 6)."""
    from resnetbook.progress import bar

    grid = [(n, m) for n in label_counts for m in METHODS]
    return [run(m, pretrained, task, n, hparams(m, n), seed, freeze, train_mode)
            for n, m in bar(grid, desc="transfer runs", disable=not progress)]


def results_table(results: Sequence[Result]) -> dict[str, dict[int, float]]:
    """``{method: {labels per class: mean accuracy over seeds}}`` (chapter 6)."""
    table: dict[str, dict[int, list[float]]] = {}
    for r in results:
        table.setdefault(r.method, {}).setdefault(r.labels_per_class, []).append(r.accuracy)
    return {m: {n: sum(a) / len(a) for n, a in sorted(row.items())} for m, row in table.items()}


def as_records(results: Sequence[Result]) -> list[dict]:
    """The results as plain dicts (for a pandas DataFrame or json) (chapter 6)."""
    return [asdict(r) for r in results]


def plot_label_curve(ax: Axes, results: Sequence[Result]) -> Axes:
    """Test accuracy against labels per class, one line per method, log-scaled x (chapter 6)."""
    for method, row in results_table(results).items():
        ax.plot(list(row), [100 * a for a in row.values()], marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("labels per class (log scale)")
    ax.set_ylabel("test accuracy on the 5 new classes (%)")
    ax.legend()
    return ax
