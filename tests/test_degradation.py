"""Chapter 6's degradation machinery: plain blocks, the networks, the training curve, the plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from resnetbook import degradation, models


def test_plain_network_has_the_same_layers_without_shortcuts() -> None:
    plain, residual = degradation.build(20, False), degradation.build(20, True)
    def names(model: nn.Module) -> set[str]:
        return {n for n, _ in model.named_parameters()}

    assert names(plain) == {n for n in names(residual) if ".downsample." not in n}
    assert all(isinstance(b, models.PlainBlock) for layer in (plain.layer1, plain.layer2, plain.layer3) for b in layer)
    assert all(b.downsample is None for b in plain.modules() if isinstance(b, models.PlainBlock))
    assert len(plain.layer1) == 3 and len(degradation.build(56, False).layer3) == 9


def test_plain_block_adds_no_identity() -> None:
    torch.manual_seed(0)
    block = models.PlainBlock(4, 4).eval()
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        f = block.relu(block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))))
        torch.testing.assert_close(block(x.clone()), f)


def test_a_zero_initialized_plain_network_is_refused() -> None:
    with pytest.raises(ValueError, match="zero_init_residual=False"):
        models.FashionResNet(depth=20, shortcuts=False)


def test_residual_blocks_start_as_identities_unless_asked_otherwise() -> None:
    def last_gamma(net: nn.Module) -> float:
        return float(net.layer1[0].bn2.weight.detach().abs().sum())

    assert models.FashionResNet(depth=8).shortcuts and last_gamma(models.FashionResNet(depth=8)) == 0.0
    assert last_gamma(degradation.build(8, True)) == 0.0
    assert last_gamma(degradation.build(8, True, zero_init_residual=False)) > 0
    assert last_gamma(degradation.build(8, False)) > 0


def test_zero_initialized_blocks_pass_the_gradient_on_unchanged() -> None:
    torch.manual_seed(0)
    net = degradation.build(20, True, (4, 8, 8)).train()
    X, y = torch.randn(16, 1, 14, 14), torch.randint(0, 10, (16,))
    inputs = []
    hooks = [b.register_forward_pre_hook(lambda m, a: inputs.append(a[0]) or a[0].retain_grad())
             for b in net.layer1]
    torch.nn.functional.cross_entropy(net(X), y).backward()
    for h in hooks:
        h.remove()
    norms = [x.grad.norm().item() for x in inputs]  # layer1 has no projection
    assert max(norms) / min(norms) - 1 < 1e-5


def test_run_measures_each_networks_training_error_on_the_same_images() -> None:
    torch.manual_seed(0)
    X = torch.randn(96, 1, 8, 8)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    recipe = degradation.Recipe(depths=(8,), steps=10, batch_size=16, widths=(4, 4, 4), pool=1, eval_size=40)
    curves = degradation.run(X, y, recipe)
    assert set(curves) == {"plain-8", "residual-8"}
    for curve in curves.values():
        assert len(curve.errors) == 10 and 0 <= curve.train_error <= 1
        assert abs(curve.train_error * 40 - round(curve.train_error * 40)) < 1e-6  # a count out of eval_size


def test_trained_is_one_network_of_run_and_takes_the_seed_and_init() -> None:
    torch.manual_seed(0)
    X = torch.randn(96, 1, 8, 8)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    recipe = degradation.Recipe(depths=(8,), steps=10, batch_size=16, widths=(4, 4, 4), pool=1, eval_size=40)
    same = degradation.trained(X, y, recipe, 8, True)
    assert same.errors == degradation.run(X, y, recipe)["residual-8"].errors  # what run trains
    other_seed = degradation.trained(X, y, degradation.Recipe(**{**recipe.__dict__, "seed": 1}), 8, True)
    gamma_one = degradation.trained(X, y, recipe, 8, True, zero_init_residual=False)
    assert other_seed.errors != same.errors and gamma_one.errors != same.errors


def test_train_curve_records_one_error_per_batch_and_learns() -> None:
    torch.manual_seed(0)
    X = torch.randn(256, 1, 8, 8)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    X = X + 2.0 * (y.float() * 2 - 1).view(-1, 1, 1, 1)  # an easy task
    recipe = degradation.Recipe(steps=30, batch_size=32, lr=0.05, widths=(4, 4, 4), pool=1)
    curve = degradation.train_curve(degradation.build(8, True, recipe.widths), X, y, recipe, "r")
    assert len(curve.errors) == 30 and all(0 <= e <= 1 for e in curve.errors)
    assert curve.final(5) < sum(curve.errors[:5]) / 5
    s = curve.smoothed(4)
    assert s.shape == (30,) and torch.isclose(s[-1], torch.tensor(curve.errors[-4:]).mean())
    assert torch.isclose(s[0], torch.tensor(curve.errors[0]))


def test_bad_recipe_and_images_are_refused() -> None:
    with pytest.raises(ValueError):
        degradation.Recipe(steps=2)
    with pytest.raises(ValueError, match="expected images"):
        degradation.prepare(torch.zeros(3, 28, 28), 2)
    assert degradation.prepare(torch.zeros(3, 1, 28, 28), 2).shape == (3, 1, 14, 14)


def test_plots_draw_one_line_per_network() -> None:
    curves = {degradation.name(d, s): degradation.Curve(degradation.name(d, s), [0.5, 0.4, 0.3])
              for s in (False, True) for d in (20, 56)}
    fig, (a, b) = plt.subplots(1, 2)
    assert len(degradation.plot_curves(a, curves, window=2).lines) == 4
    ax = degradation.plot_grad_norms(b, {"plain-20": [1.0, 0.5], "residual-20": [1.0, 0.9]})
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    plt.close(fig)


def test_names_say_which_network_and_whether_its_gammas_start_at_one():
    assert degradation.name(20, False) == "plain-20" and degradation.name(56, True) == "residual-56"
    assert degradation.name(56, True, zero_init_residual=False) == "residual-56, γ=1"
    assert degradation.name(56, False, zero_init_residual=False) == "plain-56"  # no residual branch to scale
    assert degradation.line_style("residual-56, γ=1") != degradation.line_style("residual-56")
