"""The networks of the book: the stand-in ResNet, the chapter-5 starter CNN and the fast network.

``fashion_resnet`` follows the CIFAR-10 ResNets of He et al. (2016, section 4.2):
3x3 convolutions, three stages of 16/32/64 channels, ``6n + 2`` weighted layers.
It reuses torchvision's own ``BasicBlock`` and names its children like
``torchvision.models.ResNet`` so that chapters 2-4 read it like a ResNet-18.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

# 6n + 2 with n = 1 block per stage: small enough that `python -m resnetbook.standins`
# trains it to over 92% test accuracy in minutes on a 2-core CPU (its JSON records the result).
FASHION_RESNET_DEPTH = 8


class PlainBlock(BasicBlock):
    """torchvision's ``BasicBlock`` without its shortcut: ``relu(F(x))`` (chapter 6).

    The paper's "plain" networks (section 4.1): the same layers, under the same
    names, with no identity added and no ``downsample`` projection.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


class FashionResNet(nn.Module):
    """A CIFAR-style ResNet for 1-channel 28x28 images (chapters 2-6).

    No max-pool after ``conv1``: the input is already small, and keeping 28x28
    until ``layer1`` leaves 7x7 maps at ``layer3`` for class activation maps.
    Chapter 6 narrows the three stages (``widths``) and builds the plain network of
    the same depth (``shortcuts=False``: ``PlainBlock``s); ``zero_init_residual=False``
    keeps every block's last BN at one (a plain block whose last BN starts at zero
    would output zeros).
    """

    def __init__(self, depth: int = FASHION_RESNET_DEPTH, num_classes: int = 10,
                 widths: tuple[int, int, int] = (16, 32, 64), shortcuts: bool = True,
                 zero_init_residual: bool = True) -> None:
        super().__init__()
        if not shortcuts and zero_init_residual:
            raise ValueError("a plain network (shortcuts=False) needs zero_init_residual=False")
        self.shortcuts = shortcuts
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got {depth}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        blocks_per_stage = (depth - 2) // 6
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(1, widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(widths[0], blocks_per_stage, stride=1)
        self.layer2 = self._make_layer(widths[1], blocks_per_stage, stride=2)
        self.layer3 = self._make_layer(widths[2], blocks_per_stage, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        """One stage; the first block projects the shortcut when the shape changes."""
        if not self.shortcuts:
            first = PlainBlock(self.inplanes, planes, stride)
            self.inplanes = planes
            return nn.Sequential(first, *(PlainBlock(planes, planes) for _ in range(1, blocks)))
        downsample = None
        if stride != 1 or self.inplanes != planes:
            # Option B of the paper: a 1x1 convolution + BN on the shortcut (Eq. 2).
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        """He initialization as in torchvision (BN starts at weight 1, bias 0, PyTorch's default);
        the last BN of each block starts at zero."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BasicBlock) and zero_init_residual:
                # Zero-init residual (Goyal et al. 2017): each block starts as the identity.
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def fashion_resnet(num_classes: int = 10, depth: int = FASHION_RESNET_DEPTH) -> FashionResNet:
    """The stand-in pretrained network: a CIFAR-style ResNet for FashionMNIST (chapters 2-5)."""
    return FashionResNet(depth=depth, num_classes=num_classes)


class StarterCNN(nn.Module):
    """Chapter 5's first network: two conv + max-pool stages and two linear layers.

    ``width`` is the number of channels of the first convolution (the second has
    twice as many); ``dropout`` is applied before the last layer.
    """

    def __init__(self, width: int = 16, hidden: int = 128, dropout: float = 0.0,
                 num_classes: int = 10) -> None:
        super().__init__()
        if width < 1 or hidden < 1:
            raise ValueError(f"width and hidden must be positive, got {width} and {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.conv1 = nn.Conv2d(1, width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)  # 28 -> 14 -> 7
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(2 * width * 7 * 7, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Max-pool, then ReLU: the same function as the tutorials' ReLU then max-pool (both keep
        # order, so the largest of four values passes ReLU exactly when ReLU passes it, and the
        # same weights get the gradient), with ReLU on a quarter of the pixels. Measured: a
        # training step of batch 128 took 19-22 ms instead of 31 ms (one thread, channels_last).
        x = self.relu(self.pool(self.conv1(x)))
        x = self.relu(self.pool(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.dropout(self.relu(self.fc1(x)))
        return self.fc2(x)


def starter_cnn(width: int = 16, hidden: int = 128, dropout: float = 0.0) -> StarterCNN:
    """The small 2-conv network chapter 5 starts from (chapter 5, benchmark baseline)."""
    return StarterCNN(width=width, hidden=hidden, dropout=dropout)


def _conv_pool_bn(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution, 2x2 max-pool, batch norm, GELU: pooling before BN and GELU
    leaves them a quarter of the pixels, and they cost more than the convolution here."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False), nn.MaxPool2d(2),
                         nn.BatchNorm2d(c_out), nn.GELU())


class FastNet(nn.Module):
    """The engine's fast network for chapter 5 and the benchmark (airbench-style).

    The stem downsamples at once (28 -> 14), so every later convolution works on
    a quarter of the pixels or fewer. Each of the three layers is one more
    conv, 2x2 max-pool, BN, GELU unit (14 -> 7 -> 3 -> 1).
    """

    def __init__(self, widths: tuple[int, int, int] = (64, 128, 256), stem: int = 32,
                 num_classes: int = 10) -> None:
        super().__init__()
        if len(widths) != 3 or min(widths) < 1 or stem < 1:
            raise ValueError(f"widths must be three positive ints and stem positive; got {widths}, {stem}")
        self.stem = _conv_pool_bn(1, stem)  # 28 -> 14
        self.layer1 = _conv_pool_bn(stem, widths[0])
        self.layer2 = _conv_pool_bn(widths[0], widths[1])
        self.layer3 = _conv_pool_bn(widths[1], widths[2])
        self.maxpool = nn.AdaptiveMaxPool2d(1)  # global max over the last 1x1-3x3 map
        self.fc = nn.Linear(widths[2], num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.maxpool(x), 1))


def fast_net(widths: tuple[int, int, int] = (64, 128, 256), stem: int = 32) -> FastNet:
    """The fast network of chapter 5 and the benchmark (``engine.Recipe`` builds it)."""
    return FastNet(widths=widths, stem=stem)


def whiten_stem(net: FastNet, X: torch.Tensor, samples: int = 1000, eps: float = 5e-4) -> FastNet:
    """Set ``net.stem``'s filters to whiten the 3x3 patches of ``X``, and freeze them (chapter 5, benchmark).

    Neighbouring pixels are strongly correlated, which slows the first steps of
    SGD. The eigenvectors of the patch covariance, each divided by the square root
    of its eigenvalue, map patches to uncorrelated unit-variance features; the stem
    uses each such filter and its negative (so GELU passes both signs) and keeps
    them fixed. Keller Jordan's airbench trains CIFAR-10 fast with the same idea.
    ``X`` holds training images ``[N,C,H,W]``; the first ``samples`` are used.

    The stem's batch norm is removed (an ``nn.Identity`` takes its place): its inputs are
    already on a unit scale. The stem then has no trainable parameter, so backpropagation
    stops at ``layer1``. Measured in float32 on a 2-core Xeon: a training step of batch 256
    23% faster; chapter 5's recipe 92.85% test accuracy after 4 epochs without the batch
    norm, 92.75% with it (seed 0).
    """
    conv = net.stem[0]
    k = conv.kernel_size[0]
    d = conv.in_channels * k * k
    if conv.out_channels != 2 * d:
        raise ValueError(f"whitening {k}x{k} patches of {conv.in_channels} channel(s) needs a stem of "
                         f"2 x {d} = {2 * d} channels, got {conv.out_channels}")
    if X.dim() != 4 or X.shape[1] != conv.in_channels:
        raise ValueError(f"expected images [N,{conv.in_channels},H,W], got shape {tuple(X.shape)}")
    patches = F.unfold(X[:samples].float(), k).transpose(1, 2).reshape(-1, d)  # one row per patch
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(patches.T.double()))  # double: small eigenvalues
    filters = (eigenvectors / (eigenvalues + eps).sqrt()).T.reshape(d, conv.in_channels, k, k)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([filters, -filters]).to(conv.weight))
    conv.weight.requires_grad_(False)
    net.stem[2] = nn.Identity()  # the batch norm after the pool
    return net
