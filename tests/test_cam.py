"""Class activation maps against a direct computation, and hook hygiene (resnetbook.cam)."""

from __future__ import annotations


import pytest
import torch

from resnetbook import cam

from resnet_fixtures import ARCHS, CASES, model_for


def make(name: str, size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    generator = torch.Generator().manual_seed(size)
    return model_for(name), torch.randn(ARCHS[name][1], size, size, generator=generator)


def expected_hw(name: str, size: int) -> int:
    # ResNet-50 downsamples by 32 (ceil at each stride-2 step); the stand-in by 4.
    if name == "resnet50":
        s = size
        for _ in range(5):
            s = (s + 1) // 2
        return s
    return (size + 3) // 4


@pytest.mark.parametrize("name,size", CASES)
def test_cam_shapes(name: str, size: int) -> None:
    model, x = make(name, size)
    result = cam.class_activation_maps(model, x)
    c, n_classes = model.fc.in_features, model.fc.out_features
    h = expected_hw(name, size)
    assert result.features.shape == (1, c, h, h)
    assert result.hw_by_c.shape == (h * h, c)
    assert result.scores.shape == (h * h, n_classes)
    assert result.maps.shape == (n_classes, h, h)
    assert result.logits.shape == (n_classes,)


@pytest.mark.parametrize("name,size", CASES)
def test_cam_matches_direct_einsum(name: str, size: int) -> None:
    model, x = make(name, size)
    result = cam.class_activation_maps(model, x)
    f = result.features[0]
    direct = torch.einsum("kc,chw->khw", model.fc.weight, f) + model.fc.bias[:, None, None]
    torch.testing.assert_close(result.maps, direct, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,size", CASES)
def test_cam_mean_is_the_logit(name: str, size: int) -> None:
    """Pooling and fc are linear: the mean of each class map is the model's logit."""
    model, x = make(name, size)
    result = cam.class_activation_maps(model, x)
    with torch.no_grad():
        logits = model(x[None])[0]
    torch.testing.assert_close(result.logits, logits)
    torch.testing.assert_close(result.scores.mean(dim=0), logits, rtol=1e-4, atol=1e-4)


def test_hw_by_c_row_order() -> None:
    """Row i*w + j is location (i, j): the reshape must not mix units and places."""
    f = torch.arange(2 * 3 * 4.0).reshape(1, 2, 3, 4)
    hw_c = cam.features_to_hw_by_c(f)
    assert hw_c.shape == (12, 2)
    for i in range(3):
        for j in range(4):
            assert torch.equal(hw_c[i * 4 + j], f[0, :, i, j])
    torch.testing.assert_close(cam.scores_to_maps(hw_c, 3, 4), f[0])


@pytest.mark.parametrize("name", list(ARCHS))
def test_hooks_released(name: str) -> None:
    model, x = make(name, ARCHS[name][2][0])
    target = cam.last_conv_stage(model)
    with cam.ActivationCapture(target) as capture:
        assert len(target._forward_hooks) == 1
        model(x[None])
    assert capture.activations is not None
    assert len(target._forward_hooks) == 0
    cam.class_activation_maps(model, x)
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_hook_released_on_error() -> None:
    model, _ = make("fashion_resnet", 28)
    with pytest.raises(RuntimeError):
        with cam.ActivationCapture(model.layer3):
            model(torch.randn(1, 3, 28, 28))  # wrong channel count
    assert len(model.layer3._forward_hooks) == 0


def test_last_conv_stage() -> None:
    r50, fr = model_for("resnet50"), model_for("fashion_resnet")
    assert cam.last_conv_stage(r50) is r50.layer4
    assert cam.last_conv_stage(fr) is fr.layer3
    with pytest.raises(ValueError, match="avgpool"):
        cam.last_conv_stage(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)))


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="single image"):
        cam.features_to_hw_by_c(torch.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError):
        cam.scores_to_maps(torch.zeros(8, 5), 3, 3)
    model, _ = make("fashion_resnet", 28)
    with pytest.raises(ValueError, match="one image"):
        cam.class_activation_maps(model, torch.zeros(1, 1, 28, 28))


def test_plot_top_cams_shows_most_probable_first() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    model, x = make("fashion_resnet", 28)
    result = cam.class_activation_maps(model, x)
    fig, axes = plt.subplots(1, 3)
    shown = cam.plot_top_cams(list(axes), np.zeros((28, 28), np.uint8), result, [str(i) for i in range(10)])
    assert shown == result.logits.topk(3).indices.tolist()
    assert all(len(ax.images) == 2 for ax in axes)  # image + overlay
    assert axes[0].get_title().startswith(str(shown[0]))
    plt.close(fig)
