"""Chapter 3: from-scratch BatchNorm against nn.BatchNorm2d; slope and intercept against the layer."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from resnetbook import batchnorm

SHAPES = [(1, 3, 5, 5), (4, 8, 7, 7), (16, 2, 3, 1)]


def _pair(channels: int, momentum: float | None = 0.1) -> tuple[nn.BatchNorm2d, batchnorm.BatchNorm2d]:
    """A torch layer with non-trivial parameters and buffers, and our copy of it."""
    g = torch.Generator().manual_seed(channels)
    ref = nn.BatchNorm2d(channels, momentum=momentum)
    with torch.no_grad():
        ref.weight.copy_(torch.randn(channels, generator=g))
        ref.bias.copy_(torch.randn(channels, generator=g))
        ref.running_mean.copy_(torch.randn(channels, generator=g))
        ref.running_var.copy_(torch.rand(channels, generator=g) + 0.5)
    ours = batchnorm.BatchNorm2d(channels, momentum=momentum)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_train_mode_matches_torch(shape, momentum):
    ref, ours = _pair(shape[1], momentum)
    for step in range(3):  # several steps: running stats accumulate
        x = torch.randn(shape, generator=torch.Generator().manual_seed(step)) * 3 + 1
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 3


@pytest.mark.parametrize("shape", SHAPES)
def test_eval_mode_matches_torch(shape):
    ref, ours = _pair(shape[1])
    ref.eval(), ours.eval()
    x = torch.randn(shape) * 2 - 1
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_var, ref.running_var)  # eval leaves buffers alone


def test_running_var_uses_unbiased_variance():
    ref, _ = _pair(4)
    x = torch.randn(2, 4, 3, 3)
    mean, var = batchnorm.expected_running_stats(ref, x)
    ref(x)
    torch.testing.assert_close(ref.running_mean, mean)
    torch.testing.assert_close(ref.running_var, var)
    # The biased variance would give a different update: the test can tell them apart.
    _, biased, unbiased = batchnorm.batch_stats(x)
    assert not torch.allclose(biased, unbiased)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_slope_intercept_reproduce_the_layer(shape, training):
    ref, _ = _pair(shape[1])
    ref.train(training)
    x = torch.randn(shape) * 2 + 0.5
    slope, intercept = batchnorm.slope_intercept(ref, x)
    with torch.no_grad():
        y = ref(x)
    predicted = x * slope[None, :, None, None] + intercept[None, :, None, None]
    assert (predicted - y).abs().max() < 1e-4


def test_slope_intercept_needs_x_in_train_mode():
    ref, _ = _pair(3)
    with pytest.raises(ValueError, match="needs the input"):
        batchnorm.slope_intercept(ref, None, training=True)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="N, C, H, W"):
        batchnorm.batch_stats(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="channels"):
        batchnorm.BatchNorm2d(3)(torch.zeros(2, 4, 2, 2))
    with pytest.raises(ValueError, match="momentum"):
        batchnorm.BatchNorm2d(3, momentum=2.0)


def test_plot_channel_map():
    ref, _ = _pair(3)
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        y = ref(x)
    slope, intercept = batchnorm.slope_intercept(ref, x, training=False)
    fig, ax = plt.subplots()
    batchnorm.plot_channel_map(ax, x, y, 1, float(slope[1]), float(intercept[1]))
    assert len(ax.collections) == 1 and len(ax.lines) == 1
    with pytest.raises(ValueError, match="channel"):
        batchnorm.plot_channel_map(ax, x, y, 3)
    plt.close(fig)


def test_layer_input_is_what_bn1_sees():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    x = torch.randn(2, 1, 8, 8)
    seen = batchnorm.layer_input(model, model[1], x)
    torch.testing.assert_close(seen, model[0](x))
    with pytest.raises(ValueError, match="not called"):
        batchnorm.layer_input(model, nn.BatchNorm2d(4), x)
