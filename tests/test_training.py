"""Chapter 5's data as tensors, batches, augmentation, history and accuracy (resnetbook.training).

The plain loop (train, get_prediction, evaluate) lives in chapter 5; tests/test_check_ch5.py
tests it and its self-checks. The fast engine is tested in tests/test_engine.py.
"""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from resnetbook import training
from training_fixtures import toy_data


def test_batches_cover_every_example_once():
    X, y = torch.arange(10).float().view(10, 1, 1, 1), torch.arange(10)
    seen = torch.cat([yb for _, yb in training.batches(X, y, 3, shuffle=True,
                                                         generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    assert [len(yb) for _, yb in training.batches(X, y, 3)] == [3, 3, 3, 1]
    with pytest.raises(ValueError, match="differ in length"):
        list(training.batches(X, y[:5], 3))
    with pytest.raises(ValueError, match="batch_size"):
        list(training.batches(X, y, 0))


def test_random_crop_shifts_within_padding_and_keeps_pixels():
    X = torch.zeros(64, 1, 28, 28)
    X[:, 0, 14, 14] = 1.0
    out = training.random_crop(X, 2, torch.Generator().manual_seed(0))
    assert out.shape == X.shape
    rows, cols = (out[:, 0] == 1).nonzero()[:, 1:].T
    assert rows.sub(14).abs().max() <= 2 and cols.sub(14).abs().max() <= 2
    assert len(rows) == 64 and len(set(zip(rows.tolist(), cols.tolist()))) > 5


def test_random_flip_mirrors_about_half():
    X = torch.arange(28.0).expand(200, 1, 28, 28)
    out = training.random_flip(X, torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] == 27).sum().item()
    assert 60 < flipped < 140
    assert torch.equal(out.sort(-1).values, X)


def test_augment_without_shifts_or_flips_is_the_identity():
    X, _ = toy_data(8)
    assert torch.equal(training.augment(X, padding=0, flip=False), X)
    shifted = training.augment(X, padding=2, flip=False, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(shifted, X)


def test_make_splits_holds_out_validation_and_normalizes():
    g = torch.Generator().manual_seed(0)
    ds = SimpleNamespace(train_images=torch.randint(0, 256, (100, 28, 28), dtype=torch.uint8, generator=g),
                         train_labels=torch.arange(100), test_images=torch.zeros(10, 28, 28, dtype=torch.uint8),
                         test_labels=torch.zeros(10, dtype=torch.int64))
    s = training.make_splits(ds, val_size=20, seed=0, device="cpu")
    assert s.X_train.shape == (80, 1, 28, 28) and s.X_val.shape == (20, 1, 28, 28)
    assert set(s.y_train.tolist()).isdisjoint(s.y_val.tolist())
    assert abs(s.X_train.mean().item()) < 1e-4 and abs(s.X_train.std().item() - 1) < 1e-3
    with pytest.raises(ValueError, match="val_size"):
        training.make_splits(ds, val_size=100)
    with pytest.raises(ValueError, match="uint8"):
        training.normalize(s.X_train, s.mean, s.std)


def test_history_records_and_finds_the_time_to_an_accuracy():
    history = training.History()
    history.record(1, 0.9, 0.7, 0.80, 2.0)
    history.record(2, 0.5, 0.9, 0.92, 4.0)
    assert history.epoch == [1, 2] and history.train_loss == [0.9, 0.5] and history.train_acc == [0.7, 0.9]
    assert history.val_acc == [0.80, 0.92] and history.seconds == [2.0, 4.0]
    assert history.time_to(0.9) == 4.0 and history.time_to(0.5) == 2.0 and math.isinf(history.time_to(0.95))


class Mirror(nn.Module):
    """Class 0 if the left half is brighter, class 1 if the right half is; class 2 (a small bias)
    when the two halves weigh the same, which is what averaging with the mirror image gives."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([0.0, 0.0, 0.1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x[..., :14].sum((1, 2, 3)), x[..., 14:].sum((1, 2, 3))
        return torch.stack([left - right, 0.5 * (right - left), torch.zeros_like(left)], 1) + self.bias


def test_accuracy_counts_top1_in_batches_with_optional_flip_averaging():
    X = torch.zeros(10, 1, 2, 28)
    X[:7, ..., :14] = 1.0   # 7 images bright on the left: class 0 without TTA
    X[7:, ..., 14:] = 1.0   # 3 bright on the right: class 1
    y = torch.tensor([0] * 7 + [1] * 3)
    model = Mirror().train()
    assert training.accuracy(model, X, y, batch_size=3) == 1.0
    assert not model.training
    # With flip TTA the logits of each image and of its mirror image cancel: only the bias is left.
    assert training.accuracy(model, X, y, tta=True) == 0.0
    assert training.accuracy(model, X, torch.full((10,), 2), tta=True) == 1.0
    with pytest.raises(ValueError, match="no images"):
        training.accuracy(model, X[:0], y[:0])
