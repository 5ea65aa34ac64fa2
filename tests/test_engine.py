"""The fast engine on tiny synthetic data (resnetbook.engine: fit, EMA, schedule, recipes)."""

import math

import pytest
import torch

from resnetbook import engine, models
from training_fixtures import toy_data


def tiny_fit(seed, epochs=2, **kwargs):
    X, y = toy_data(256)
    hp = engine.HParams(epochs=epochs, batch_size=64, lr=0.05, seed=seed, amp=False, **kwargs)
    torch.manual_seed(seed)  # the initial weights come from the global generator
    model = models.fast_net((8, 8, 8), stem=4)
    return engine.fit(model, X, y, hp, X, y, progress=False)


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


def test_fit_without_validation_data_records_nan_and_rejects_bad_data():
    X, y = toy_data(64)
    _, h = engine.fit(models.fast_net((8, 8, 8), stem=4), X, y, engine.HParams(epochs=1, amp=False),
                      progress=False)
    assert len(h.val_acc) == 1 and math.isnan(h.val_acc[0])
    with pytest.raises(ValueError, match="equally long"):
        engine.fit(models.fast_net((8, 8, 8), stem=4), X, y[:10], progress=False)


def test_ema_follows_the_weights_after_its_warm_up():
    model = models.fast_net((8, 8, 8), stem=4)
    ema = engine.EMA(model, decay=0.5)
    for _ in range(8):  # the warm-up: the decay (1 + step) / (10 + step) reaches 0.5 at step 8
        ema.update(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for e, p in zip(ema.model.parameters(), model.parameters()):
        assert torch.allclose(e, p - 0.5)


def test_hparams_reject_bad_values():
    with pytest.raises(ValueError, match="positive"):
        engine.HParams(epochs=0)
    with pytest.raises(ValueError, match="eval_every"):
        engine.HParams(eval_every=0)
    with pytest.raises(ValueError, match="ema_decay"):
        engine.HParams(ema_decay=1.0)


@pytest.mark.parametrize("steps", [2, 3, 100])
def test_one_cycle_rises_then_falls(steps):
    factor = engine.one_cycle(steps, pct_start=0.25)
    values = [factor(i) for i in range(steps + 1)]
    peak = values.index(max(values))
    assert values[0] == pytest.approx(0.1) and max(values) == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.001)
    assert all(a <= b for a, b in zip(values[:peak], values[1:peak + 1]))
    assert all(a >= b for a, b in zip(values[peak:], values[peak + 1:]))


def test_a_whitening_recipe_builds_from_the_training_images():
    recipe = engine.Recipe(dict(widths=(8, 8, 8), stem=18), engine.HParams(epochs=1), whiten=True)
    with pytest.raises(ValueError, match="build\\(X_train\\)"):
        recipe.build()
    X, _ = toy_data(64)
    model = recipe.build(X)
    assert not model.stem[0].weight.requires_grad
    assert engine.SPEED_RECIPE.build(X).stem[0].weight.requires_grad is False
    assert engine.Recipe(dict(widths=(8, 8, 8), stem=18), engine.HParams(epochs=1)).build().stem[0].weight.requires_grad
