"""Chapters 1-2's reading of ResNets as modules: block classes, shapes, module trees, layer counts.

The chapter-2 exercises' answers (the uncounted convolutions, the seventh one) are the
chapter's own functions, tested in test_check_ch2.py.
"""

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import resnet as tv_resnet

from resnetbook import architecture as A


def test_figure2_class_is_basic_block():
    assert A.figure2_class(tv_resnet) is tv_resnet.BasicBlock
    assert A.block_classes(tv_resnet) == [tv_resnet.BasicBlock, tv_resnet.Bottleneck]


def test_figure2_class_refuses_a_module_without_one():
    with pytest.raises(ValueError, match="expected one block"):
        A.figure2_class(torchvision.models.vgg)


def test_summarize_block_reads_the_main_path():
    basic = A.summarize_block(tv_resnet.BasicBlock)
    assert (basic.kernel_sizes, basic.channels, basic.expansion) == ([3, 3], [(64, 64), (64, 64)], 1)
    assert basic.parameters == 2 * 64 * 64 * 9 + 2 * 2 * 64  # two convs, two BN (weight, bias)
    bottleneck = A.summarize_block(tv_resnet.Bottleneck, 256, 64)
    assert bottleneck.kernel_sizes == [1, 3, 1] and bottleneck.expansion == 4
    assert bottleneck.channels == [(256, 64), (64, 64), (64, 256)]


@pytest.mark.parametrize("builder, depth, projected", [
    (torchvision.models.resnet18, 18, ["layer2", "layer3", "layer4"]),
    (torchvision.models.resnet34, 34, ["layer2", "layer3", "layer4"]),
    (torchvision.models.resnet50, 50, ["layer1", "layer2", "layer3", "layer4"]),
])
def test_counted_layers_match_the_name(builder, depth, projected):
    model = builder()
    counted = [n for n, _ in A.counted_layers(model)]
    assert len(counted) == depth and counted[0] == "conv1" and counted[-1] == "fc"
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    # What the depth leaves out: exactly the 1x1 convolution of each projection shortcut.
    assert [n for n in convs if n not in counted] == [f"{stage}.0.downsample.0" for stage in projected]
    assert [n for n, b in A.residual_blocks(model) if b.downsample is not None] == [
        f"{stage}.0" for stage in projected]


def test_is_shortcut_reads_whole_name_parts():
    assert A.is_shortcut("layer2.0.downsample.0") and A.is_shortcut("layer2.0.downsample")
    assert not A.is_shortcut("layer2.0.conv1") and not A.is_shortcut("downsampler.0")


def test_trace_shapes_with_and_without_downsampling():
    plain = tv_resnet.BasicBlock(64, 64)
    down = tv_resnet.BasicBlock(64, 128, stride=2, downsample=A.projection(64, 128, 2))
    x = torch.randn(2, 64, 16, 16)
    first = A.trace_shapes(plain, x)
    assert [n for n, _ in first] == ["conv1", "bn1", "relu", "conv2", "bn2", "relu", "(block output)"]
    assert first[-1] == ("(block output)", (2, 64, 16, 16))
    trace = dict(A.trace_shapes(down, x))
    assert trace["downsample.0"] == trace["bn2"] == trace["(block output)"] == (2, 128, 8, 8)
    A.trace_shapes(plain, x)
    assert len(first) == 7  # the hooks were removed: a later run adds nothing to it


def test_module_tree_lists_every_module_indented_by_depth():
    model = torchvision.models.resnet18()
    rows = A.module_tree(model)
    assert len(rows) == len(list(model.named_modules()))
    assert rows[:2] == ["(model): ResNet",
                        "  conv1: Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)"]
    assert "  layer1: Sequential" in rows and "    layer1.0: BasicBlock" in rows
    assert "        layer2.0.downsample.0: Conv2d(64, 128, kernel_size=(1, 1), stride=(2, 2), bias=False)" in rows
