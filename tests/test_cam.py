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


# The CAM itself (features_to_hw_by_c, class_scores_per_location) is chapter 4's answer:
# test_check_ch4.py tests it against a direct computation.


@pytest.mark.parametrize("name,size", CASES)
def test_last_stage_features_shapes_and_logits(name: str, size: int) -> None:
    model, x = make(name, size)
    features, logits = cam.last_stage_features(model, x)
    h = expected_hw(name, size)
    assert features.shape == (1, model.fc.in_features, h, h)
    assert not features.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(logits, model(x[None])[0])
    with pytest.raises(ValueError, match="one image"):
        cam.last_stage_features(model, x[None])


def test_scores_to_maps_layout() -> None:
    """Row i*w + j of the scores is location (i, j) of every class's map."""
    scores = torch.arange(12 * 2.0).reshape(12, 2)
    maps = cam.scores_to_maps(scores, 3, 4)
    assert maps.shape == (2, 3, 4)
    for i in range(3):
        for j in range(4):
            assert torch.equal(maps[:, i, j], scores[i * 4 + j])


@pytest.mark.parametrize("name", list(ARCHS))
def test_hooks_released(name: str) -> None:
    model, x = make(name, ARCHS[name][2][0])
    target = cam.last_conv_stage(model)
    with cam.ActivationCapture(target) as capture:
        assert len(target._forward_hooks) == 1
        model(x[None])
    assert capture.activations is not None
    assert len(target._forward_hooks) == 0
    cam.last_stage_features(model, x)
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
    with pytest.raises(ValueError):
        cam.scores_to_maps(torch.zeros(8, 5), 3, 3)


def test_plot_top_cams_shows_most_probable_first() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    model, x = make("fashion_resnet", 28)
    features, logits = cam.last_stage_features(model, x)
    maps = torch.einsum("kc,chw->khw", model.fc.weight, features[0]) + model.fc.bias[:, None, None]
    fig, axes = plt.subplots(1, 3)
    shown = cam.plot_top_cams(list(axes), np.zeros((28, 28), np.uint8), maps, logits, [str(i) for i in range(10)])
    assert shown == logits.topk(3).indices.tolist()
    assert all(len(ax.images) == 2 for ax in axes)  # image + overlay
    assert axes[0].get_title().startswith(str(shown[0]))
    plt.close(fig)
