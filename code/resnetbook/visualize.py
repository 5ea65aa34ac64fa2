"""Filters, feature maps, region-selective units and unit ablation (chapter 4).

The functions a student writes in chapter 4 (``normalize_tensor``, ``remove_last_layers``,
``ablate_units``, ...) live in the chapter; this module draws and searches around them.

Everything here works on any torchvision-style ResNet (children named ``conv1``,
``layer1`` ... ``avgpool``, ``fc``): the Places365 ResNet-50 and the stand-in
FashionMNIST ResNet alike. Plotting helpers draw on a matplotlib ``Axes`` the
caller supplies and never call ``plt.show()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ---------------------------------------------------------------- filters


def _check_conv_weight(weight: Tensor) -> None:
    if weight.dim() != 4:
        raise ValueError(
            f"expected a conv weight of shape (out, in, kh, kw), got {tuple(weight.shape)}"
        )
    if weight.numel() and (weight.min() < 0 or weight.max() > 1):
        raise ValueError(
            f"expected filters scaled to [0, 1], got values in [{weight.min():.3g}, {weight.max():.3g}]: "
            "normalize each filter first (chapter 4's normalize_filters)"
        )


def _tile(tiles: Tensor, nrows: int, ncols: int, pad: int) -> Tensor:
    """Lay ``tiles`` (n, kh, kw[, 3]) row by row on a white canvas with ``pad`` gaps."""
    n, kh, kw = tiles.shape[:3]
    extra = tiles.shape[3:]
    canvas = torch.ones(nrows * (kh + pad) - pad, ncols * (kw + pad) - pad, *extra)
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[r * (kh + pad) : r * (kh + pad) + kh, c * (kw + pad) : c * (kw + pad) + kw] = tiles[i]
    return canvas


def first_conv_grid(weight: Tensor, ncols: int = 8, pad: int = 1) -> Tensor:
    """One image showing every filter of a first conv layer (chapter 4, problem 1a).

    ``weight`` is the layer's weight with each filter already scaled to [0, 1]. With
    3 input channels the channels are red, green, blue, so each filter is shown as a
    colour patch (returns H x W x 3); with 1 input channel each is a grayscale patch
    (returns H x W).
    """
    _check_conv_weight(weight)
    out_ch, in_ch = weight.shape[:2]
    if in_ch not in (1, 3):
        raise ValueError(
            f"a first conv layer sees 1 (gray) or 3 (RGB) channels, got {in_ch}; "
            "use conv_kernel_grid for deeper layers"
        )
    tiles = weight.detach().float().cpu()  # (out, in, kh, kw)
    tiles = tiles[:, 0] if in_ch == 1 else tiles.permute(0, 2, 3, 1)
    nrows = -(-out_ch // ncols)
    return _tile(tiles, nrows, min(ncols, out_ch), pad)


def conv_kernel_grid(
    weight: Tensor, n_filters: int = 8, n_channels: int = 8, pad: int = 1
) -> Tensor:
    """Kernels of a deeper conv layer, one grayscale 2-D kernel per cell (chapters 2 and 4, problem 1b).

    Rows are the first ``n_filters`` output filters, columns the first ``n_channels``
    input channels: the input channels of a deeper layer are feature maps of the layer
    before, not colours, so each (filter, channel) kernel is its own grayscale picture.
    Each row is scaled to [0, 1] together, so the kernels of one filter can be
    compared. Returns H x W.
    """
    if weight.dim() != 4:
        raise ValueError(f"expected a conv weight of shape (out, in, kh, kw), got {tuple(weight.shape)}")
    if n_filters < 1 or n_channels < 1:
        raise ValueError("n_filters and n_channels must be positive")
    ### BEGIN SOLUTION
    rows = weight[:n_filters, :n_channels].detach().float().cpu()
    low = rows.flatten(1).min(dim=1).values[:, None, None, None]
    high = rows.flatten(1).max(dim=1).values[:, None, None, None]
    rows = (rows - low) / (high - low).clamp_min(1e-12)  # each filter on its own
    return _tile(rows.flatten(0, 1), rows.shape[0], rows.shape[1], pad)
    ### END SOLUTION


def plot_grid(ax: plt.Axes, grid: Tensor, title: str = "") -> plt.Axes:
    """Show a grid from ``first_conv_grid``/``conv_kernel_grid`` without axes (chapter 4)."""
    ax.imshow(grid.numpy(), cmap="gray" if grid.dim() == 2 else None, interpolation="nearest")
    ax.set_title(title, fontsize=11)
    ax.axis("off")
    return ax


# ---------------------------------------------------------------- feature maps


def upsample_map(fmap: Tensor, size: tuple[int, int], smooth: bool = True) -> Tensor:
    """Resize a 2-D map (h, w) to ``size`` (H, W), bilinearly or as blocks (chapter 4).

    ``smooth=False`` keeps each cell a sharp block, which suits masks.
    """
    if fmap.dim() != 2:
        raise ValueError(f"expected a 2-D map, got shape {tuple(fmap.shape)}")
    if smooth:
        resized = F.interpolate(fmap[None, None].float(), size=size, mode="bilinear", align_corners=False)
    else:
        resized = F.interpolate(fmap[None, None].float(), size=size, mode="nearest")
    return resized[0, 0]


def show_image(ax: plt.Axes, image: np.ndarray | Tensor) -> None:
    """Draw an H x W (gray) or H x W x 3 image (chapter 4)."""
    image = np.asarray(image)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.axis("off")


MAP_CMAP = "viridis"  # perceptually uniform, legible in grey and to colour-blind readers


def plot_map_over_image(
    ax: plt.Axes, image: np.ndarray, fmap: Tensor, title: str = "", alpha: float = 0.6,
    smooth: bool = True, colorbar: bool = True, fontsize: float = 12,
) -> plt.Axes:
    """Overlay a feature map or CAM, upsampled to the image size, on the image (chapter 4).

    The colour scale (viridis: dark blue low, yellow high) runs from the map's own minimum
    to its maximum, which the colour bar beside it reads off; compare values between maps
    with those numbers, not with colours.
    """
    image = np.asarray(image)
    heat = upsample_map(fmap.detach().cpu(), image.shape[:2], smooth)
    show_image(ax, image)
    shown = ax.imshow(heat.numpy(), cmap=MAP_CMAP, alpha=alpha)  # matplotlib scales the colours to [min, max]
    if colorbar:
        bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        bar.solids.set_alpha(1)
        bar.ax.tick_params(labelsize=fontsize)
    ax.set_title(title, fontsize=fontsize)
    return ax


# ---------------------------------------------------------------- regions


def band_mask(shape: tuple[int, int], top: float, bottom: float,
              left: float = 0.0, right: float = 1.0) -> Tensor:
    """Boolean (h, w) mask of the cells whose centres lie in a box (chapter 4, problem 2b).

    The box is given as fractions of the height (``top`` to ``bottom``) and width
    (``left`` to ``right``), so one definition fits an 8 x 8 and a 7 x 7 map.
    """
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(f"need 0 <= top < bottom <= 1 and 0 <= left < right <= 1, "
                         f"got top={top}, bottom={bottom}, left={left}, right={right}")
    h, w = shape
    rows = (torch.arange(h) + 0.5) / h
    cols = (torch.arange(w) + 0.5) / w
    in_rows = (rows >= top) & (rows < bottom)
    in_cols = (cols >= left) & (cols < right)
    mask = in_rows[:, None] & in_cols[None, :]
    if not mask.any():
        raise ValueError(f"the box selects no cell of a {h} x {w} map")
    return mask


def region_share(features: Tensor, mask: Tensor) -> Tensor:
    """Fraction of each unit's activation mass that lies inside ``mask`` (chapter 4, problem 2b).

    ``features`` is (c, h, w) and non-negative (the stage ends in a ReLU); a unit
    that is silent everywhere gets share 0. Returns (c,).
    """
    if features.dim() != 3 or features.shape[1:] != mask.shape:
        raise ValueError(f"features (c, h, w) and mask (h, w) disagree: "
                         f"{tuple(features.shape)} vs {tuple(mask.shape)}")
    ### BEGIN SOLUTION
    total = features.sum(dim=(1, 2))
    inside = (features * mask).sum(dim=(1, 2))
    return torch.where(total > 0, inside / total.clamp_min(1e-12), torch.zeros_like(total))
    ### END SOLUTION


def units_for_region(features: Tensor, mask: Tensor, k: int = 4) -> Tensor:
    """The ``k`` units whose activation is most concentrated in ``mask`` (chapter 4, problem 2b).

    Ranks by ``region_share`` among the *active* units only (mean activation at or
    above the median unit's), so a unit that fires faintly on one cell cannot win
    with a share of 1.
    """
    ### BEGIN SOLUTION
    share = region_share(features, mask)
    mean = features.mean(dim=(1, 2))
    active = mean >= mean.median()
    if k < 1 or k > int(active.sum()):
        raise ValueError(f"k must be between 1 and {int(active.sum())} (active units), got {k}")
    score = torch.where(active, share, torch.full_like(share, -1.0))
    return score.argsort(descending=True)[:k]
    ### END SOLUTION


# ---------------------------------------------------------------- ablation


def top_units_for_class(fc: nn.Linear, class_idx: int, k: int) -> Tensor:
    """Indices of the ``k`` units with the largest fc weight for ``class_idx`` (chapter 4, problem 2c)."""
    n_classes, n_units = fc.weight.shape
    if not 0 <= class_idx < n_classes:
        raise ValueError(f"class_idx must be in [0, {n_classes}), got {class_idx}")
    if not 1 <= k <= n_units:
        raise ValueError(f"k must be in [1, {n_units}], got {k}")
    return fc.weight[class_idx].detach().argsort(descending=True)[:k]


def logits_from_features(features: Tensor, fc: nn.Linear) -> Tensor:
    """What the removed ``avgpool`` and ``fc`` would output for last-stage features (chapter 4).

    (c, h, w) gives (classes,); (b, c, h, w) gives (b, classes).
    """
    if features.dim() not in (3, 4):
        raise ValueError(f"expected (c, h, w) or (b, c, h, w), got {tuple(features.shape)}")
    return fc(features.mean(dim=(-2, -1)))


def top_predictions(logits: Tensor, categories: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable classes of one logit vector as (name, probability) (chapter 4)."""
    probs = logits.detach().softmax(-1)
    top = probs.topk(k)
    return [(categories[i], float(p)) for p, i in zip(top.values, top.indices)]


@dataclass
class FlipResult:
    """Outcome of ``fewest_units_to_flip``: ablating ``units`` turns ``original`` into ``new_class``."""

    num_units: int
    units: Tensor
    original: int
    new_class: int


def fewest_units_to_flip(
    features: Tensor, fc: nn.Linear, order: str = "weight"
) -> FlipResult | None:
    """Smallest prefix of ranked units whose ablation changes the top class (chapter 4, problem 2d).

    The units are ranked for the original top-1 class, by fc weight (``order="weight"``,
    as in problem 2c) or by their actual contribution weight x mean activation
    (``order="contribution"``). Every prefix length 1, 2, ... is tried in turn, so the
    answer is minimal *in that ordering*: each shorter prefix was ablated and left the
    top class unchanged. (Minimal over all subsets would need a combinatorial search.)
    Returns None when ablating every unit still leaves the class unchanged.
    """
    if features.dim() != 3:
        raise ValueError(f"expected one image's features (c, h, w), got {tuple(features.shape)}")
    if order not in ("weight", "contribution"):
        raise ValueError(f"order must be 'weight' or 'contribution', got {order!r}")
    ### BEGIN SOLUTION
    pooled = features.detach().mean(dim=(1, 2))
    with torch.no_grad():
        original = int(fc(pooled).argmax())
    weights = fc.weight[original].detach()
    ranking = (weights if order == "weight" else weights * pooled).argsort(descending=True)
    # Row k keeps the units ranked below k+1: every prefix ablated in one fc call.
    c = pooled.numel()
    steps = torch.arange(c, device=pooled.device)
    position = torch.empty_like(steps)
    position[ranking] = steps
    keep = (position[None, :] > steps[:, None]).to(pooled.dtype)
    with torch.no_grad():
        preds = fc(keep * pooled).argmax(dim=1)
    flipped = (preds != original).nonzero()
    if flipped.numel() == 0:
        return None
    k = int(flipped[0]) + 1
    return FlipResult(k, ranking[:k].clone(), original, int(preds[k - 1]))
    ### END SOLUTION
