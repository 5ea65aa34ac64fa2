"""Shapes, names and sizes of the book's networks (resnetbook.models)."""

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from resnetbook import models


@pytest.mark.parametrize("depth", [8, 14, 20])
def test_fashion_resnet_layer3_is_64x7x7(depth):
    model = models.fashion_resnet(depth=depth).eval()
    x = torch.randn(2, 1, 28, 28)
    trunk = nn.Sequential(*list(model.children())[:-2])  # up to layer3
    assert trunk(x).shape == (2, 64, 7, 7)
    assert model(x).shape == (2, 10)


def test_fashion_resnet_names_like_torchvision():
    names = [name for name, _ in models.fashion_resnet().named_children()]
    assert names == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"]


@pytest.mark.parametrize("depth", [8, 14, 20])
def test_fashion_resnet_depth_counts_weighted_layers(depth):
    model = models.fashion_resnet(depth=depth)
    main_path = [n for n, m in model.named_modules()
                 if isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in n]
    assert len(main_path) == depth
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 3 * (depth - 2) // 6


def test_projection_shortcuts_only_at_stage_boundaries():
    model = models.fashion_resnet(depth=14)
    with_projection = [n for n, m in model.named_modules()
                       if isinstance(m, BasicBlock) and m.downsample is not None]
    assert with_projection == ["layer2.0", "layer3.0"]
    conv, bn = model.layer2[0].downsample
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and isinstance(bn, nn.BatchNorm2d)


def test_parameter_counts_are_sane():
    # ResNet-20 for CIFAR has ~0.27M parameters (He et al. 2016, Table 6); ours has 1 input channel.
    params = sum(p.numel() for p in models.fashion_resnet(depth=20).parameters())
    assert 0.26e6 < params < 0.28e6
    small = sum(p.numel() for p in models.fashion_resnet().parameters())
    assert small * 4 < 4e6  # float32 file stays well under a few MB


def test_default_depth_is_recorded_constant():
    blocks = [m for m in models.fashion_resnet().modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == (models.FASHION_RESNET_DEPTH - 2) // 2


@pytest.mark.parametrize("bad", [7, 9, 0])
def test_fashion_resnet_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.fashion_resnet(depth=bad)


@pytest.mark.parametrize("build", [models.starter_cnn, models.fast_net,
                                   lambda: models.starter_cnn(width=8, dropout=0.5),
                                   lambda: models.fast_net((8, 16, 32), stem=8)])
def test_small_networks_map_images_to_ten_logits(build):
    assert build()(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_small_networks_reject_bad_arguments():
    with pytest.raises(ValueError, match="dropout"):
        models.starter_cnn(dropout=1.0)
    with pytest.raises(ValueError, match="width"):
        models.starter_cnn(width=0)
    with pytest.raises(ValueError, match="widths"):
        models.fast_net((8, 16))
