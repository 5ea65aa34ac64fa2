"""The chapter-5 engine on tiny synthetic data (resnetbook.training).

The plain loop (train, get_prediction, evaluate) lives in chapter 5; tests/test_check_ch5.py
tests it and its self-checks.
"""

import math
from types import SimpleNamespace

import pytest
import torch

from resnetbook import models, training
from training_fixtures import toy_data


def test_batches_cover_every_example_once():
    X, y = torch.arange(10).float().view(10, 1, 1, 1), torch.arange(10)
    seen = torch.cat([yb for _, yb in training.batches(X, y, 3, shuffle=True,
                                                         generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(10))
    with pytest.raises(ValueError):
        list(training.batches(X, y[:5], 3))


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


def tiny_fit(seed, epochs=2, **kwargs):
    X, y = toy_data(256)
    hp = training.HParams(epochs=epochs, batch_size=64, lr=0.05, seed=seed, amp=False, **kwargs)
    torch.manual_seed(seed)  # the initial weights come from the global generator
    model = models.fast_net((8, 8, 8), stem=4)
    return training.fit(model, X, y, hp, X, y, progress=False)


def test_fit_is_deterministic_with_a_seed():
    (m1, h1), (m2, h2) = tiny_fit(1), tiny_fit(1)
    assert h1.train_loss == h2.train_loss and h1.val_acc == h2.val_acc
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    _, h3 = tiny_fit(2)
    assert h3.train_loss != h1.train_loss


def test_fit_learns_and_records_history():
    model, h = tiny_fit(0, ema_decay=0.9)
    assert h.epoch == [1, 2] and len(h.seconds) == 2 and h.seconds[0] <= h.seconds[1]
    assert h.train_loss[1] < h.train_loss[0]
    assert h.time_to(0.0) == h.seconds[0] and math.isinf(h.time_to(1.01))
    assert not model.training  # the EMA copy, ready for inference


def test_fit_evaluates_at_fractions_of_an_epoch():
    # 4 steps per epoch, evaluated every half epoch: after steps 2 and 4 of each epoch.
    _, h = tiny_fit(0, eval_every=0.5)
    assert h.epoch == [0.5, 1, 1.5, 2]
    assert len(h.val_acc) == len(h.seconds) == 4 and h.seconds == sorted(h.seconds)


def test_fit_runs_fractions_of_an_epoch():
    # 4 steps per epoch: 1.5 epochs are 6 steps, evaluated at the end of epoch 1 and after step 2 of epoch 2.
    _, h = tiny_fit(0, epochs=1.5)
    assert h.epoch == [1, 1.5]
    _, short = tiny_fit(0, epochs=0.5)
    assert short.epoch == [0.5]


def test_ema_follows_the_weights():
    model = models.fast_net((8, 8, 8), stem=4)
    ema = training.EMA(model, decay=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.steps = 100  # past the warm-up, so the decay is 0.5
    ema.update(model)
    for e, p in zip(ema.model.parameters(), model.parameters()):
        assert torch.allclose(e, p - 0.5)


def test_hparams_reject_bad_values():
    with pytest.raises(ValueError):
        training.HParams(epochs=0)
    with pytest.raises(ValueError, match="eval_every"):
        training.HParams(eval_every=0)
    with pytest.raises(ValueError):
        training.HParams(ema_decay=1.0)


@pytest.mark.parametrize("steps", [2, 3, 100])
def test_one_cycle_rises_then_falls(steps):
    factor = training.one_cycle(steps, pct_start=0.25)
    values = [factor(i) for i in range(steps + 1)]
    peak = values.index(max(values))
    assert values[0] == pytest.approx(0.1) and max(values) == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.001)
    assert all(a <= b for a, b in zip(values[:peak], values[1:peak + 1]))
    assert all(a >= b for a, b in zip(values[peak:], values[peak + 1:]))


def test_a_whitening_recipe_builds_from_the_training_images():
    recipe = training.Recipe(dict(widths=(8, 8, 8), stem=18), training.HParams(epochs=1), whiten=True)
    with pytest.raises(ValueError, match="build\\(X_train\\)"):
        recipe.build()
    X, _ = toy_data(64)
    model = recipe.build(X)
    assert not model.stem[0].weight.requires_grad
    assert training.SPEED_RECIPE.build(X).stem[0].weight.requires_grad is False
