"""Filters, feature maps, regions and unit ablation (resnetbook.visualize)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from resnetbook import cam, visualize

from resnet_fixtures import ARCHS, CASES, model_for

# The chapter's own answers (normalize_tensor, remove_last_layers, ablate_units) are tested
# with their checks in test_check_ch4.py; the tests here build what they need by hand.


def per_filter(weight: torch.Tensor) -> torch.Tensor:
    """Each filter scaled to [0, 1] on its own, as chapter 4's normalize_filters does."""
    flat = weight.detach().flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    return ((flat - low[:, None]) / (high - low)[:, None]).reshape(weight.shape)


def features_for(name: str, size: int) -> torch.Tensor:
    """Last-stage features (c, h, w) of a random image."""
    x = torch.randn(ARCHS[name][1], size, size, generator=torch.Generator().manual_seed(size))
    return cam.last_stage_features(model_for(name), x)[0][0]


def ablate(features: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    out = features.clone()
    out[units] = 0
    return out


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize("name", list(ARCHS))
def test_first_conv_grid_colour_or_gray(name: str) -> None:
    weight = model_for(name).conv1.weight
    out_ch, in_ch, kh, kw = weight.shape
    grid = visualize.first_conv_grid(per_filter(weight), ncols=8, pad=1)
    rows = -(-out_ch // 8)
    assert grid.shape[:2] == (rows * (kh + 1) - 1, 8 * (kw + 1) - 1)
    assert grid.dim() == (3 if in_ch == 3 else 2)
    assert grid.min() >= 0 and grid.max() <= 1
    # The first tile is the first filter, normalized on its own.
    first = per_filter(weight)[0]
    expected = first.permute(1, 2, 0) if in_ch == 3 else first[0]
    torch.testing.assert_close(grid[:kh, :kw], expected)


@pytest.mark.parametrize("name", list(ARCHS))
def test_conv_kernel_grid_rows_filters_cols_channels(name: str) -> None:
    conv = model_for(name).layer1[0].conv2  # 3x3, many input channels
    weight = conv.weight
    kh = weight.shape[2]
    grid = visualize.conv_kernel_grid(weight, n_filters=4, n_channels=5, pad=1)
    assert grid.dim() == 2  # grayscale: channels are not colours
    assert grid.shape == (4 * (kh + 1) - 1, 5 * (kh + 1) - 1)
    # Cell (row 2, column 3) is filter 2's kernel on input channel 3, scaled with its row.
    row = per_filter(weight[:4, :5])[2]
    r0, c0 = 2 * (kh + 1), 3 * (kh + 1)
    torch.testing.assert_close(grid[r0 : r0 + kh, c0 : c0 + kh], row[3])


def test_filter_grids_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="conv weight"):
        visualize.first_conv_grid(torch.zeros(3, 3, 3))
    with pytest.raises(ValueError, match="conv_kernel_grid"):
        visualize.first_conv_grid(torch.zeros(8, 16, 3, 3))
    with pytest.raises(ValueError, match="positive"):
        visualize.conv_kernel_grid(torch.zeros(8, 16, 3, 3), n_filters=0)
    with pytest.raises(ValueError, match="normalize each filter first"):
        visualize.first_conv_grid(torch.full((8, 3, 3, 3), 2.0))


# ---------------------------------------------------------------- feature maps


def test_upsample_and_overlay_plot() -> None:
    fmap = torch.rand(7, 7)
    assert visualize.upsample_map(fmap, (28, 28)).shape == (28, 28)
    blocks = visualize.upsample_map(torch.eye(2), (4, 4), smooth=False)
    assert torch.equal(blocks, torch.eye(2).repeat_interleave(2, 0).repeat_interleave(2, 1))
    with pytest.raises(ValueError):
        visualize.upsample_map(torch.rand(1, 7, 7), (28, 28))
    fig, axes = plt.subplots(1, 2)
    visualize.plot_map_over_image(axes[0], np.zeros((28, 28), np.uint8), fmap, "gray")
    visualize.plot_map_over_image(axes[1], np.zeros((64, 48, 3), np.uint8), fmap, "rgb")
    assert len(axes[1].images) == 2 and axes[1].images[1].get_array().shape == (64, 48)
    plt.close(fig)


# ---------------------------------------------------------------- regions


def test_band_mask_fractions() -> None:
    top = visualize.band_mask((7, 7), 0.0, 0.45)
    assert top[:3].all() and not top[3:].any()
    assert visualize.band_mask((8, 8), 0.0, 1 / 3).sum() == 3 * 8
    left = visualize.band_mask((4, 4), 0, 1, left=0, right=0.5)
    assert left[:, :2].all() and not left[:, 2:].any()
    with pytest.raises(ValueError):
        visualize.band_mask((7, 7), 0.5, 0.4)
    with pytest.raises(ValueError, match="no cell"):
        visualize.band_mask((2, 2), 0.0, 0.1)


def test_region_share_and_ranking() -> None:
    f = torch.zeros(4, 4, 4)
    f[0, :2] = 1.0  # all in the top half
    f[1] = 1.0  # everywhere
    f[2, 3, 3] = 1e-6  # faint, all in the bottom half
    f[3, 2:] = 2.0  # strong, bottom half
    top = visualize.band_mask((4, 4), 0, 0.5)
    share = visualize.region_share(f, top)
    torch.testing.assert_close(share, torch.tensor([1.0, 0.5, 0.0, 0.0]))
    assert visualize.units_for_region(f, top, k=1).tolist() == [0]
    bottom = ~top
    # Unit 2 has share 1 but is faint: the active-units rule ranks unit 3 first.
    assert visualize.units_for_region(f, bottom, k=1).tolist() == [3]
    with pytest.raises(ValueError, match="disagree"):
        visualize.region_share(f, torch.ones(3, 3, dtype=torch.bool))


@pytest.mark.parametrize("name,size", CASES)
def test_units_for_region_beat_average(name: str, size: int) -> None:
    f = features_for(name, size)
    mask = visualize.band_mask(f.shape[1:], 0.0, 0.5)
    share = visualize.region_share(f, mask)
    units = visualize.units_for_region(f, mask, k=3)
    assert len(set(units.tolist())) == 3
    assert share[units].min() >= share.mean()


# ---------------------------------------------------------------- ablation


@pytest.mark.parametrize("name,size", CASES)
def test_logits_from_features_are_the_model_output(name: str, size: int) -> None:
    model = model_for(name)
    x = torch.randn(ARCHS[name][1], size, size, generator=torch.Generator().manual_seed(size))
    features, logits = cam.last_stage_features(model, x)
    torch.testing.assert_close(visualize.logits_from_features(features[0], model.fc), logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(visualize.logits_from_features(features, model.fc)[0], logits, rtol=1e-4, atol=1e-4)


def test_top_units_for_class_are_the_largest_weights() -> None:
    fc = model_for("fashion_resnet").fc
    units = visualize.top_units_for_class(fc, 3, 5)
    assert len(set(units.tolist())) == 5
    assert (fc.weight[3, units] >= fc.weight[3].topk(5).values.min()).all()


@pytest.mark.parametrize("order", ["weight", "contribution"])
@pytest.mark.parametrize("name,size", CASES)
def test_fewest_units_to_flip_is_verified(name: str, size: int, order: str) -> None:
    fc = model_for(name).fc
    f = features_for(name, size)
    result = visualize.fewest_units_to_flip(f, fc, order=order)
    assert result is not None
    original = int(visualize.logits_from_features(f, fc).argmax())
    assert result.original == original
    assert result.num_units == len(result.units)
    after = visualize.logits_from_features(ablate(f, result.units), fc)
    assert int(after.argmax()) == result.new_class != original
    # Every shorter prefix of the same ordering keeps the class.
    for k in range(result.num_units):
        kept = visualize.logits_from_features(ablate(f, result.units[:k]), fc)
        assert int(kept.argmax()) == original
    if order == "weight":
        torch.testing.assert_close(result.units,
                                   visualize.top_units_for_class(fc, original, result.num_units))


def test_fewest_units_hand_made() -> None:
    """Two units push class 0; removing the bigger one is not enough, removing both is."""
    fc = torch.nn.Linear(3, 2)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[3.0, 2.0, 0.0], [0.0, 0.0, 1.0]]))
        fc.bias.zero_()
    f = torch.tensor([1.0, 1.0, 2.5])[:, None, None].expand(3, 2, 2).clone()
    # logits: class0 = 5, class1 = 2.5; without unit 0: 2 < 2.5 -> flips after 1 unit.
    result = visualize.fewest_units_to_flip(f, fc)
    assert (result.num_units, result.units.tolist(), result.new_class) == (1, [0], 1)
    f[2] = 1.5  # class1 = 1.5: removing unit 0 leaves 2 > 1.5, both units needed
    result = visualize.fewest_units_to_flip(f, fc)
    assert (result.num_units, result.units.tolist()) == (2, [0, 1])
    with pytest.raises(ValueError, match="order"):
        visualize.fewest_units_to_flip(f, fc, order="random")


def test_fewest_units_none_when_bias_decides() -> None:
    fc = torch.nn.Linear(2, 2)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
        fc.bias.copy_(torch.tensor([1.0, 0.0]))
    assert visualize.fewest_units_to_flip(torch.ones(2, 2, 2), fc) is None


def test_top_units_and_predictions_reject_bad_input() -> None:
    fc = torch.nn.Linear(4, 3)
    with pytest.raises(ValueError, match="class_idx"):
        visualize.top_units_for_class(fc, 3, 2)
    with pytest.raises(ValueError, match="k must"):
        visualize.top_units_for_class(fc, 0, 5)
    preds = visualize.top_predictions(torch.tensor([0.0, 2.0, 1.0]), ["a", "b", "c"], k=2)
    assert [name for name, _ in preds] == ["b", "c"]
    assert preds[0][1] > preds[1][1]
