"""Chapter 3's package helpers: what a layer receives, and its per-channel map drawn.

The chapter's own functions (the equation, its statistics, slope and intercept, the
from-scratch layer) are tested against nn.BatchNorm2d in test_check_ch3.py.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from resnetbook import batchnorm


def test_plot_channel_map():
    layer = nn.BatchNorm2d(3).eval()
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        y = layer(x)
    slope = 1 / (1 + layer.eps) ** 0.5  # default weight 1, bias 0, running mean 0 and variance 1
    fig, ax = plt.subplots()
    batchnorm.plot_channel_map(ax, x, y, 1, slope, 0.0)
    assert len(ax.collections) == 1 and len(ax.lines) == 1
    batchnorm.plot_channel_map(ax, x, y, 2)  # points only: no line
    assert len(ax.collections) == 2 and len(ax.lines) == 1
    with pytest.raises(ValueError, match="channel"):
        batchnorm.plot_channel_map(ax, x, y, 3)
    with pytest.raises(ValueError, match="N, C, H, W"):
        batchnorm.plot_channel_map(ax, x[0], y[0], 1)
    with pytest.raises(ValueError, match="same shape"):
        batchnorm.plot_channel_map(ax, x, y[:1], 1)
    plt.close(fig)


def test_layer_input_is_what_bn1_sees():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    x = torch.randn(2, 1, 8, 8)
    seen = batchnorm.layer_input(model, model[1], x)
    torch.testing.assert_close(seen, model[0](x))
    with pytest.raises(ValueError, match="not called"):
        batchnorm.layer_input(model, nn.BatchNorm2d(4), x)
