"""The drawings of chapters 1-2 show what the modules hold: labels, and dotted projection shortcuts."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torchvision
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torchvision.models import resnet as tv_resnet

from resnetbook import diagrams


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture(scope="module")
def resnet18():
    return torchvision.models.resnet18()


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def dashed(ax, kind: type) -> list:
    return [p for p in ax.patches if isinstance(p, kind) and p.get_linestyle() == "--"]


def test_draw_block_with_the_identity_shortcut(ax, resnet18):
    assert diagrams.draw_block(ax, resnet18.layer1[0], "identity") is ax
    assert [t for t in texts(ax) if "conv" in t] == ["3x3 conv, 64", "3x3 conv, 64"]
    assert "identity $\\mathbf{x}$" in texts(ax) and ax.get_title() == "identity"
    assert [line.get_linestyle() for line in ax.lines] == ["-"] and dashed(ax, FancyArrowPatch) == []


def test_draw_block_with_the_projection_shortcut(ax, resnet18):
    diagrams.draw_block(ax, resnet18.layer2[0])
    assert [t for t in texts(ax) if "conv" in t][:2] == ["3x3 conv, 128, /2", "3x3 conv, 128"]
    assert any(t.startswith("projection $W_s") for t in texts(ax)) and "$\\mathbf{x}$  (64 ch)" in texts(ax)
    assert [line.get_linestyle() for line in ax.lines] == ["--"] and len(dashed(ax, FancyArrowPatch)) == 1


def test_draw_block_refuses_a_bottleneck(ax):
    with pytest.raises(ValueError, match="BasicBlock, got Bottleneck"):
        diagrams.draw_block(ax, tv_resnet.Bottleneck(256, 64))


def test_draw_stages_dots_only_the_projection(ax, resnet18):
    diagrams.draw_stages(ax, resnet18, stages=("layer1", "layer2"))
    boxes = [t for t in texts(ax) if t.startswith("layer")]
    assert boxes == ["layer1.0\n64->64", "layer1.1\n64->64", "layer2.0\n64->128, /2", "layer2.1\n128->128"]
    assert [t for t in texts(ax) if t in ("identity", "projection")] == [
        "identity", "identity", "projection", "identity"]
    assert len(dashed(ax, FancyArrowPatch)) == 1
    with pytest.raises(ValueError, match="no residual blocks"):
        diagrams.draw_stages(ax, resnet18, stages=("layer9",))


def test_draw_module_tree_shows_children_and_blocks(ax, resnet18):
    diagrams.draw_module_tree(ax, resnet18)
    children = [name for name, _ in resnet18.named_children()]
    assert [t for t in texts(ax) if "\n" not in t] == children
    blocks = [t.split("\n")[0] for t in texts(ax) if "\n" in t]
    assert blocks == [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)]
    assert len(ax.patches) == len(children) + len(blocks)
    # The dashed boxes are layer2.0, layer3.0 and layer4.0, one in each of their stages' columns.
    columns = [round(p.get_x() + p.get_width() / 2) for p in dashed(ax, FancyBboxPatch)]
    assert columns == [children.index(f"layer{s}") for s in (2, 3, 4)]
