"""Chapter 4's self-checks: the typical wrong answers they catch (the contract every check keeps: test_exercise_contract.py).

The reference solutions come from the chapter notebook (tests/chapter_code.py), so the
tests of the solutions themselves (shapes, row order, ablation inside the model, CAM
against a direct computation) live here too.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from chapter_code import fails, reference
from resnet_fixtures import ARCHS, CASES, model_for
from resnetbook import cam, check, visualize

CHAPTER = "04_looking_inside"


@functools.cache
def ref(name: str):
    extra = ("04-011",) if name == "normalize_filters" else ()  # it calls normalize_tensor
    return reference(CHAPTER, name, extra_cells=extra)


# ---------------------------------------------------------------- ch4-first-filters


def test_normalize_tensor_wrong_answers() -> None:
    def in_place(t):
        t -= t.min()
        return t / t.max()

    fails(check.normalize_tensor, in_place, "changed its input in place")
    fails(check.normalize_tensor, lambda t: (t - t.max()) / (t.min() - t.max()), "order is reversed")
    fails(check.normalize_tensor, lambda t: t / t.max(), "forget to subtract t.min")
    fails(check.normalize_tensor, lambda t: (t - t.min()) / t.max(), "largest value should be 1")
    fails(check.normalize_tensor, lambda t: (t - t.min()) / (t.max() - t.min()), "dividing by it gives nan")
    per_filter = lambda t: (torch.stack([ref("normalize_tensor")(x) for x in t])  # noqa: E731
                            if t.dim() == 4 else ref("normalize_tensor")(t))
    fails(check.normalize_tensor, per_filter, "as one piece")
    fails(check.normalize_tensor, lambda t: None, "returned NoneType")
    fails(check.normalize_tensor, lambda t: t.min() / 0 + t.foo, "raised AttributeError")


def test_normalize_tensor_reference_values() -> None:
    normalize_tensor = ref("normalize_tensor")
    t = torch.tensor([[-2.0, 0.0], [1.0, 6.0]])
    torch.testing.assert_close(normalize_tensor(t), (t + 2) / 8)
    assert torch.equal(normalize_tensor(torch.full((3, 3), 5.0)), torch.zeros(3, 3))


def test_normalize_filters_wrong_answers() -> None:
    normalize_tensor = ref("normalize_tensor")
    fails(check.normalize_filters, normalize_tensor, r"each filter must be normalized on its own: filter \d spans")
    per_kernel = lambda w: torch.stack([torch.stack([normalize_tensor(k) for k in f]) for f in w])  # noqa: E731
    fails(check.normalize_filters, per_kernel, "not each channel or kernel apart")
    fails(check.normalize_filters, lambda w: torch.stack([normalize_tensor(f) for f in w])[:, :1], "keep the shape")


# ---------------------------------------------------------------- ch4-remove-last-layers


def test_remove_last_layers_wrong_answers() -> None:
    fails(check.remove_last_layers, lambda m, n: nn.Sequential(*list(m.children())[n:]),
          r"should keep the first 3 children \['Conv2d', 'ReLU', 'Sequential'\]")
    fails(check.remove_last_layers, lambda m, n: nn.Sequential(*list(m.children())[:-n - 1]), "it kept")
    fails(check.remove_last_layers, lambda m, n: m, "returned the model itself")

    def replaces(model, n):
        for name in [name for name, _ in model.named_children()][-n:]:
            setattr(model, name, nn.Identity())
        return model

    fails(check.remove_last_layers, replaces, "changed the model it was given")

    def deletes(model, n):
        for name in [name for name, _ in model.named_children()][-n:]:
            delattr(model, name)
        return nn.Sequential(*model.children())

    fails(check.remove_last_layers, deletes, "changed the model it was given")
    fails(check.remove_last_layers, lambda m, n: list(m.children())[:-n], "expected a network")


@pytest.mark.parametrize("name,size", CASES)
def test_remove_last_layers_exposes_last_stage(name: str, size: int) -> None:
    model = model_for(name)
    trunk = ref("remove_last_layers")(model)
    assert isinstance(trunk, nn.Sequential)
    assert not any(isinstance(m, (nn.Linear, nn.AdaptiveAvgPool2d)) for m in trunk)
    x = torch.randn(2, ARCHS[name][1], size, size)
    with torch.no_grad():
        f = trunk(x)
        torch.testing.assert_close(visualize.logits_from_features(f, model.fc), model(x), rtol=1e-4, atol=1e-4)
    assert f.shape[:2] == (2, model.fc.in_features)
    assert (f >= 0).all()  # the stage ends in a ReLU
    with pytest.raises(ValueError, match="n must be"):
        ref("remove_last_layers")(model, n=0)


# ---------------------------------------------------------------- ch4-ablate-top5


def test_ablate_units_wrong_answers() -> None:
    def wrong_axis(f, units):
        out = f.clone()
        out[:, units] = 0
        return out

    def batch_axis(f, units):
        out = f.clone()
        out[torch.as_tensor(units)] = 0
        return out

    def in_place(f, units):
        f[..., torch.as_tensor(units), :, :] = 0
        return f

    fails(check.ablate_units, wrong_axis, "some other entries were zeroed instead: units are channels")
    fails(check.ablate_units, batch_axis, r"batch \(3, 5, 4, 3\).*not all zero")
    fails(check.ablate_units, in_place, "the input features changed")
    fails(check.ablate_units, lambda f, units: f.clone(), "nothing was zeroed")
    fails(check.ablate_units, lambda f, units: torch.zeros_like(f), "the maps of the other units changed")


def features_for(name: str, size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(size)
    x = torch.randn(1, ARCHS[name][1], size, size, generator=generator)
    with torch.no_grad():
        return ref("remove_last_layers")(model_for(name))(x)[0]


@pytest.mark.parametrize("name,size", CASES)
def test_ablation_changes_logits_as_expected(name: str, size: int) -> None:
    ablate_units = ref("ablate_units")
    fc = model_for(name).fc
    f = features_for(name, size)
    logits = visualize.logits_from_features(f, fc)
    cls = int(logits.argmax())
    units = visualize.top_units_for_class(fc, cls, 5)
    before = f.clone()
    ablated = ablate_units(f, units)
    assert ablated[units].abs().sum() == 0
    assert torch.equal(f, before)  # the input is untouched
    others = torch.ones(f.shape[0], dtype=torch.bool)
    others[units] = False
    assert torch.equal(ablated[others], f[others])
    # Removing unit u lowers each logit by w[:, u] * mean activation of u.
    new_logits = visualize.logits_from_features(ablated, fc)
    expected = logits - fc.weight[:, units] @ f.mean(dim=(1, 2))[units]
    torch.testing.assert_close(new_logits, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,size", CASES)
def test_ablation_equals_zeroing_inside_the_model(name: str, size: int) -> None:
    """Ablating features then avgpool+fc is the same as zeroing channels in the network."""
    ablate_units = ref("ablate_units")
    model = model_for(name)
    x = torch.randn(1, ARCHS[name][1], size, size)
    units = [0, 5, 7]
    handle = cam.last_conv_stage(model).register_forward_hook(lambda m, i, out: ablate_units(out, units))
    try:
        with torch.no_grad():
            inside = model(x)
    finally:
        handle.remove()
    with torch.no_grad():
        f = ref("remove_last_layers")(model)(x)
        outside = visualize.logits_from_features(ablate_units(f, units), model.fc)
    torch.testing.assert_close(outside, inside, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- ch4-hw-by-c


def test_features_to_hw_by_c_wrong_answers() -> None:
    fails(check.features_to_hw_by_c, lambda f: f[0].reshape(f.shape[2] * f.shape[3], f.shape[1]),
          r"`reshape\(h\*w, c\)` keeps the memory order")
    fails(check.features_to_hw_by_c, lambda f: f.flatten(2).transpose(1, 2), r"gave shape \(1, 12, 2\).*no batch axis")
    fails(check.features_to_hw_by_c, lambda f: f[0].reshape(f.shape[1], -1), r"expected \(h\*w, c\) = \(12, 2\)")
    fails(check.features_to_hw_by_c, lambda f: f[0].permute(2, 1, 0).reshape(-1, f.shape[1]),
          r"row 1 must be location \(i=0, j=1\)")


def test_hw_by_c_row_order_and_maps() -> None:
    """Row i*w + j is location (i, j), and scores_to_maps undoes the layout."""
    f = torch.arange(2 * 3 * 4.0).reshape(1, 2, 3, 4)
    hw_c = ref("features_to_hw_by_c")(f)
    assert hw_c.shape == (12, 2)
    for i in range(3):
        for j in range(4):
            assert torch.equal(hw_c[i * 4 + j], f[0, :, i, j])
    torch.testing.assert_close(cam.scores_to_maps(hw_c, 3, 4), f[0])
    with pytest.raises(ValueError, match="single image"):
        ref("features_to_hw_by_c")(torch.zeros(2, 4, 3, 3))


# ---------------------------------------------------------------- ch4-fc-every-location


def test_class_scores_per_location_wrong_answers() -> None:
    fails(check.class_scores_per_location, lambda hw, fc: hw @ fc.weight.T, "They miss fc's bias")
    fails(check.class_scores_per_location, lambda hw, fc: fc.weight @ hw.T + fc.bias[:, None],
          r"gave shape \(4, 6\), expected \(h\*w, classes\) = \(6, 4\)")
    fails(check.class_scores_per_location, lambda hw, fc: fc(hw).softmax(dim=1), "Apply fc to each row")


def class_maps(name: str, size: int):
    model = model_for(name)
    x = torch.randn(ARCHS[name][1], size, size, generator=torch.Generator().manual_seed(size))
    features, logits = cam.last_stage_features(model, x)
    scores = ref("class_scores_per_location")(ref("features_to_hw_by_c")(features), model.fc)
    return model, x, features, logits, scores, cam.scores_to_maps(scores, *features.shape[2:])


@pytest.mark.parametrize("name,size", CASES)
def test_cam_matches_direct_einsum_and_mean_is_the_logit(name: str, size: int) -> None:
    model, x, features, logits, scores, maps = class_maps(name, size)
    c, n_classes = model.fc.in_features, model.fc.out_features
    h, w = features.shape[2:]
    assert features.shape == (1, c, h, w) and scores.shape == (h * w, n_classes) and maps.shape == (n_classes, h, w)
    direct = torch.einsum("kc,chw->khw", model.fc.weight, features[0]) + model.fc.bias[:, None, None]
    torch.testing.assert_close(maps, direct, rtol=1e-4, atol=1e-4)
    # Pooling and fc are linear: the mean of each class map is the model's logit.
    with torch.no_grad():
        torch.testing.assert_close(logits, model(x[None])[0])
    torch.testing.assert_close(scores.mean(dim=0), logits, rtol=1e-4, atol=1e-4)
