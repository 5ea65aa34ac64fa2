"""Hidden cases of chapter 5 (training): other networks, batch sizes and data given as a generator.

The network has a batch-norm layer, so whether it runs in train or eval mode changes the
numbers; the last batch is smaller than the others, so the mean loss per image differs from
the mean of the batches' losses.

While grading, the notebook gets the first 12,000 training and 2,000 test images of
FashionMNIST (``DATASET_SIZES``; enough for its 10,000 validation images): the cells that
train on the whole set are tagged ``otter_ignore``, and the tests do not use the dataset.
"""

from __future__ import annotations

import torch
from torch import nn

from bookgrader.cases import Case

DATASET_SIZES = (12_000, 2_000)


def _network(seed: int) -> nn.Module:
    torch.manual_seed(5000 + seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _batches(seed: int, sizes: tuple[int, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(5000 + seed)
    return [(torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)) for n in sizes]


def _train_args(seed: int, sizes: tuple[int, ...], lr: float, as_generator: bool) -> tuple:
    model = _network(seed)
    data = _batches(seed, sizes)
    return model, (iter(data) if as_generator else data), torch.optim.SGD(model.parameters(), lr=lr)


def _after_training(out: object, args: tuple) -> object:
    """The returned (loss, accuracy), and the network's weights after the epoch."""
    loss, accuracy = out if isinstance(out, (tuple, list)) and len(out) == 2 else (out, None)
    return [loss, accuracy, [p.detach().clone() for p in args[0].parameters()]]


def _with_mode(seed: int, training: bool) -> nn.Module:
    return _network(seed).train(training)


CASES = {
    "train": [
        Case("batches of 5, 5 and 3 images, SGD(lr=0.1)", lambda: _train_args(1, (5, 5, 3), 0.1, False), _after_training),
        Case("a generator of batches of 4 and 2 images, SGD(lr=0.5)", lambda: _train_args(2, (4, 2), 0.5, True), _after_training),
    ],
    "get_prediction": [
        Case("a network left in train mode, 6 images", lambda: (_with_mode(3, True), _batches(3, (6,))[0][0])),
        Case("a network in eval mode, 1 image", lambda: (_with_mode(4, False), _batches(4, (1,))[0][0])),
    ],
    "evaluate": [
        Case("batches of 4, 4 and 1 images", lambda: (_with_mode(5, True), _batches(5, (4, 4, 1)))),
        Case("a generator of batches of 3 and 5 images", lambda: (_with_mode(6, False), iter(_batches(6, (3, 5))))),
    ],
}
