"""Chapter 1's lines found in torchvision's installed source, and how they are shown."""

import html
import re

import pytest
import torchvision
from torch import nn
from torchvision.models import resnet as tv_resnet

from resnetbook import source, source_view


def test_residual_branch_lines_hold_the_layers():
    lines = source.residual_branch_lines(tv_resnet.BasicBlock)
    text = source.read_lines(tv_resnet, lines)
    assert [text[n] for n in lines] == [
        "out = self.conv1(x)", "out = self.bn1(out)", "out = self.relu(out)",
        "out = self.conv2(out)", "out = self.bn2(out)"]
    assert source.residual_branch_layers(tv_resnet.BasicBlock) == ["conv1", "bn1", "relu", "conv2", "bn2"]


def test_bottleneck_branch_has_three_convs():
    layers = source.residual_branch_layers(tv_resnet.Bottleneck)
    assert layers == ["conv1", "bn1", "relu", "conv2", "bn2", "relu", "conv3", "bn3"]


def test_shortcut_add_line():
    n = source.shortcut_add_line(tv_resnet.BasicBlock)
    assert source.read_lines(tv_resnet, [n])[n] == "out += identity"
    assert n > max(source.residual_branch_lines(tv_resnet.BasicBlock))


def test_a_forward_without_a_shortcut_is_refused():
    # nn.ReLU.forward adds nothing to anything.
    for finder in (source.shortcut_add_line, source.residual_branch_lines, source.residual_branch_layers):
        with pytest.raises(ValueError, match="no addition"):
            finder(nn.ReLU)


def test_projection_shortcut_lines():
    p = source.projection_shortcut(tv_resnet.ResNet, tv_resnet.BasicBlock)
    text = source.read_lines(tv_resnet, [p.condition, *p.build, *p.apply])
    assert text[p.condition].startswith("if stride != 1")
    assert text[p.build[0]] == "downsample = nn.Sequential("
    assert text[p.build[1]].startswith("conv1x1(")
    assert text[p.build[2]].startswith("norm_layer(")
    assert text[p.build[-1]] == ")"
    assert text[p.apply[0]] == "if self.downsample is not None:"
    assert text[p.apply[1]] == "identity = self.downsample(x)"


def test_package_path_is_the_same_on_every_machine():
    assert source.package_path(tv_resnet) == "torchvision/models/resnet.py"
    assert source.package_path(tv_resnet.BasicBlock.forward) == "torchvision/models/resnet.py"
    assert source.package_path(torchvision.models) == "torchvision/models/__init__.py"


def test_read_lines_rejects_bad_line():
    with pytest.raises(ValueError, match="outside torchvision/models/resnet.py"):
        source.read_lines(tv_resnet, [10**6])


def test_show_source_numbers_and_marks_lines():
    n = source.shortcut_add_line(tv_resnet.BasicBlock)
    shown = source_view.show_source(tv_resnet.BasicBlock.forward, highlight=[n])
    rows = repr(shown).splitlines()
    assert [r for r in rows if " > " in r] == [f"{n} >         out += identity"]
    assert rows[0].split()[0] == str(shown.start) and rows[0].split()[1:3] == ["def", "forward(self,"]
    page = shown._repr_html_()
    marked = re.findall(r'<span class="hll">(.*?)\n</span>', page)
    assert [html.unescape(re.sub("<[^>]+>", "", m)).split() for m in marked] == [
        [str(n), "out", "+=", "identity"]]
    last = shown.start + len(shown.lines) - 1
    assert f"torchvision/models/resnet.py, lines {shown.start}-{last}" in page  # no machine paths
    # Colours come from the page's theme (light and dark palettes), never inline.
    assert 'style="color' not in page and "<div class=\"highlight\">" in page


def test_show_source_refuses_a_line_it_does_not_show():
    make_layer = source.projection_shortcut(tv_resnet.ResNet, tv_resnet.BasicBlock).condition
    with pytest.raises(ValueError, match=f"lines \\[{make_layer}\\] are outside"):
        source_view.show_source(tv_resnet.BasicBlock.forward, highlight=[make_layer])
