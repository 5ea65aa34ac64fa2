"""Chapter 1-2 helpers: lines found in torchvision's installed source, layer counts, drawings.

The chapter-2 exercises' answers (the uncounted convolutions, the seventh one) are the
chapter's own functions, tested in test_check_ch2.py.
"""

import html
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import resnet as tv_resnet

from resnetbook import architecture as A


def test_figure2_class_is_basic_block():
    assert A.figure2_class(tv_resnet) is tv_resnet.BasicBlock
    assert A.block_classes(tv_resnet) == [tv_resnet.BasicBlock, tv_resnet.Bottleneck]
    summary = A.summarize_block(tv_resnet.Bottleneck, 256, 64)
    assert summary.kernel_sizes == [1, 3, 1] and summary.expansion == 4


def test_residual_branch_lines_hold_the_layers():
    lines = A.residual_branch_lines(tv_resnet.BasicBlock)
    text = A.read_lines(tv_resnet, lines)
    assert [text[n] for n in lines] == [
        "out = self.conv1(x)", "out = self.bn1(out)", "out = self.relu(out)",
        "out = self.conv2(out)", "out = self.bn2(out)"]
    assert A.residual_branch_layers(tv_resnet.BasicBlock) == ["conv1", "bn1", "relu", "conv2", "bn2"]


def test_bottleneck_branch_has_three_convs():
    layers = A.residual_branch_layers(tv_resnet.Bottleneck)
    assert [n for n in layers if n.startswith("conv")] == ["conv1", "conv2", "conv3"]


def test_shortcut_add_line():
    n = A.shortcut_add_line(tv_resnet.BasicBlock)
    assert A.read_lines(tv_resnet, [n])[n] == "out += identity"
    assert n > max(A.residual_branch_lines(tv_resnet.BasicBlock))


def test_projection_shortcut_lines():
    p = A.projection_shortcut(tv_resnet.ResNet, tv_resnet.BasicBlock)
    text = A.read_lines(tv_resnet, [p.condition, *p.build, *p.apply])
    assert text[p.condition].startswith("if stride != 1")
    assert text[p.build[0]] == "downsample = nn.Sequential("
    assert text[p.build[1]].startswith("conv1x1(")
    assert text[p.build[2]].startswith("norm_layer(")
    assert text[p.build[-1]] == ")"
    assert text[p.apply[0]] == "if self.downsample is not None:"
    assert text[p.apply[1]] == "identity = self.downsample(x)"


def test_read_lines_rejects_bad_line():
    with pytest.raises(ValueError, match="outside"):
        A.read_lines(tv_resnet, [10**6])


def test_show_source_numbers_and_marks_lines():
    n = A.shortcut_add_line(tv_resnet.BasicBlock)
    shown = A.show_source(tv_resnet.BasicBlock.forward, highlight=[n])
    row = [r for r in repr(shown).splitlines() if r.lstrip().startswith(str(n))][0]
    assert " > " in row and "out += identity" in row
    page = shown._repr_html_()
    marked = re.findall(r'<span style="background-color: #ffd966">(.*?)\n</span>', page)
    assert [html.unescape(re.sub("<[^>]+>", "", m)).split() for m in marked] == [
        [str(n), "out", "+=", "identity"]]
    assert "/work/" not in page and "torchvision/models/resnet.py" in page  # no machine paths
    part = A.show_source(tv_resnet.BasicBlock, first=n - 1, last=n + 1)
    assert part.start == n - 1 and len(part.lines) == 3
    with pytest.raises(ValueError):
        A.show_source(tv_resnet.BasicBlock, first=1, last=2)


@pytest.mark.parametrize("builder, depth, shortcuts", [
    (torchvision.models.resnet18, 18, 3),
    (torchvision.models.resnet34, 34, 3),
    (torchvision.models.resnet50, 50, 4),
])
def test_counted_layers_match_the_name(builder, depth, shortcuts):
    model = builder()
    counted = dict(A.counted_layers(model))
    assert len(counted) == depth
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == depth - 1 + shortcuts and "fc" in counted
    assert all(A.is_shortcut(n) == (n not in counted) for n in convs)


def test_trace_shapes_with_and_without_downsampling():
    plain = tv_resnet.BasicBlock(64, 64)
    down = tv_resnet.BasicBlock(64, 128, stride=2, downsample=A.projection(64, 128, 2))
    x = torch.randn(2, 64, 16, 16)
    assert A.trace_shapes(plain, x)[-1] == ("(block output)", (2, 64, 16, 16))
    trace = dict(A.trace_shapes(down, x))
    assert trace["downsample.0"] == trace["bn2"] == (2, 128, 8, 8)
    no_projection = tv_resnet.BasicBlock(64, 128, stride=2)
    with pytest.raises(RuntimeError):
        no_projection(x)


def test_module_tree_lists_every_module():
    model = torchvision.models.resnet18()
    rows = A.module_tree(model)
    assert len(rows) == len(list(model.named_modules()))
    assert any(r.strip().startswith("layer2.0.downsample.0: Conv2d(64, 128") for r in rows)


def test_drawings_add_artists():
    model = torchvision.models.resnet18()
    fig, axes = plt.subplots(1, 3)
    A.draw_block(axes[0], model.layer2[0])
    A.draw_stages(axes[1], model)
    A.draw_module_tree(axes[2], model)
    assert all(len(ax.patches) > 5 for ax in axes)
    dashed = [p for p in axes[1].patches if p.get_linestyle() != "-"]
    assert dashed, "the projection shortcut of layer2.0 must be drawn dotted"
    with pytest.raises(ValueError):
        A.draw_block(axes[0], tv_resnet.Bottleneck(256, 64))
    plt.close(fig)
