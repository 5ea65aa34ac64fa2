"""Shapes, names and sizes of the book's networks (resnetbook.models)."""

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from resnetbook import engine, models


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


@pytest.mark.parametrize("depth, blocks", [(8, 3), (14, 6), (20, 9)])
def test_fashion_resnet_depth_counts_weighted_layers(depth, blocks):
    model = models.fashion_resnet(depth=depth)
    main_path = [n for n, m in model.named_modules()
                 if isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in n]
    assert len(main_path) == depth
    assert len([m for m in model.modules() if isinstance(m, BasicBlock)]) == blocks


def test_fashion_resnet_blocks_start_as_the_identity():
    # Zero-init residual: the last BN of each block starts at 0, so a block without a
    # projection passes its input on unchanged (after the final ReLU).
    block = models.fashion_resnet(depth=14).layer1[1].train()
    x = torch.randn(4, 16, 28, 28)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_projection_shortcuts_only_at_stage_boundaries():
    model = models.fashion_resnet(depth=14)
    with_projection = [n for n, m in model.named_modules()
                       if isinstance(m, BasicBlock) and m.downsample is not None]
    assert with_projection == ["layer2.0", "layer3.0"]
    conv, bn = model.layer2[0].downsample
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and isinstance(bn, nn.BatchNorm2d)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts():
    # ResNet-20 for CIFAR has ~0.27M parameters (He et al. 2016, Table 6); ours has 1 input channel.
    assert 0.26e6 < n_params(models.fashion_resnet(depth=20)) < 0.28e6
    # The default, the stand-in's ResNet-8, counted by hand: 3x3 convolutions k*k*c_in*c_out,
    # each BN a weight and a bias per channel, two 1x1 projections (16->32, 32->64), fc 64x10 + 10.
    convs = 9 * (1 * 16 + 16 * 16 + 16 * 16 + 16 * 32 + 32 * 32 + 32 * 64 + 64 * 64)
    bns = 2 * (16 + 16 + 16 + 32 + 32 + 32 + 64 + 64 + 64)
    assert models.FASHION_RESNET_DEPTH == 8
    assert n_params(models.fashion_resnet()) == convs + bns + (16 * 32 + 32 * 64) + 64 * 10 + 10


@pytest.mark.parametrize("bad", [7, 9, 0])
def test_fashion_resnet_rejects_bad_depth(bad):
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.fashion_resnet(depth=bad)


@pytest.mark.parametrize("build", [models.starter_cnn, models.fast_net,
                                   lambda: models.starter_cnn(width=8, dropout=0.5),
                                   lambda: models.fast_net((8, 16, 32), stem=8)])
def test_small_networks_map_images_to_ten_logits(build):
    assert build()(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_starter_cnn_pools_before_relu_and_computes_the_tutorial_order_exactly():
    # The speed choice must not change the network: outputs and every gradient equal those of
    # conv, ReLU, max-pool (the order of the tutorials and of chapter 5's text).
    torch.manual_seed(0)
    model = models.starter_cnn(width=8).to(memory_format=torch.channels_last)
    x = torch.randn(16, 1, 28, 28)
    y = torch.randint(0, 10, (16,))

    def tutorial_order(m, images):
        h = m.pool(m.relu(m.conv1(images)))
        h = m.pool(m.relu(m.conv2(h)))
        return m.fc2(m.dropout(m.relu(m.fc1(torch.flatten(h, 1)))))

    grads = []
    for forward in (model, lambda images: tutorial_order(model, images)):
        model.zero_grad()
        logits = forward(x)
        nn.functional.cross_entropy(logits, y).backward()
        grads.append((logits.detach(), [p.grad.clone() for p in model.parameters()]))
    (ours, our_grads), (theirs, their_grads) = grads
    assert torch.equal(ours, theirs)
    for a, b in zip(our_grads, their_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    relu_inputs = []
    model.relu.register_forward_hook(lambda m, inputs, out: relu_inputs.append(inputs[0].shape[-1]))
    model(x)
    assert relu_inputs[:2] == [14, 7]  # ReLU sees the pooled maps


def test_small_networks_reject_bad_arguments():
    with pytest.raises(ValueError, match="dropout"):
        models.starter_cnn(dropout=1.0)
    with pytest.raises(ValueError, match="width"):
        models.starter_cnn(width=0)
    with pytest.raises(ValueError, match="widths"):
        models.fast_net((8, 16))


def correlated_images(n: int = 400) -> torch.Tensor:
    """Smooth random images: neighbouring pixels strongly correlated, like real photos."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 28, 28, generator=g)
    return torch.nn.functional.avg_pool2d(x, 5, stride=1, padding=2) * 3 + 0.5


def test_whiten_stem_decorrelates_patches_and_freezes_the_filters():
    X = correlated_images()
    net = models.whiten_stem(models.fast_net((8, 8, 8), stem=18), X, eps=0.0)
    conv = net.stem[0]
    assert not conv.weight.requires_grad
    # no batch norm after the whitening, so nothing in the stem trains
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.stem)
    assert not any(p.requires_grad for p in net.stem.parameters())
    assert any(isinstance(m, nn.BatchNorm2d) for m in models.fast_net((8, 8, 8), stem=18).stem)
    assert torch.equal(conv.weight[9:], -conv.weight[:9])  # each filter and its negative
    # the first 9 responses over all 3x3 patches: uncorrelated, unit variance
    out = torch.nn.functional.conv2d(X, conv.weight[:9])  # no padding: whole patches only
    features = out.permute(0, 2, 3, 1).reshape(-1, 9)
    assert torch.allclose(torch.cov(features.double().T), torch.eye(9, dtype=torch.float64), atol=1e-4)
    # the raw patches were far from that
    raw = torch.nn.functional.unfold(X, 3).transpose(1, 2).reshape(-1, 9)
    assert torch.corrcoef(raw.T)[0, 1] > 0.5


def test_whiten_stem_filters_stay_fixed_in_training():
    X = correlated_images(128)
    y = torch.arange(128) % 10
    net = models.whiten_stem(models.fast_net((8, 8, 8), stem=18), X)
    before = net.stem[0].weight.clone()
    trained, _ = engine.fit(net, X, y, engine.HParams(epochs=1, batch_size=32, amp=False), progress=False)
    assert torch.equal(trained.stem[0].weight, before)


def test_whiten_stem_needs_two_filters_per_patch_pixel():
    with pytest.raises(ValueError, match="18 channels"):
        models.whiten_stem(models.fast_net((8, 8, 8), stem=16), torch.randn(10, 1, 28, 28))
    with pytest.raises(ValueError, match="images"):
        models.whiten_stem(models.fast_net((8, 8, 8), stem=18), torch.randn(10, 28, 28))


@pytest.mark.parametrize("build", [models.starter_cnn, models.fast_net, models.fashion_resnet])
def test_pooling_layers_are_named_for_what_they_compute(build):
    # A max pool named "avgpool" once told chapter 5's readers the wrong operation.
    for name, module in build().named_modules():
        kind = type(module).__name__.lower()
        if "avgpool" in name:
            assert "avg" in kind, f"{name} is a {type(module).__name__}"
        if "maxpool" in name:
            assert "max" in kind, f"{name} is a {type(module).__name__}"
