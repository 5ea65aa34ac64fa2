"""Self-checks for chapter 4 (looking inside the network): filters, the trunk, ablation, CAM.

Each check builds tiny tensors or a tiny network, runs the student's function on them
and compares with hand-computed values or PyTorch's own operations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from resnetbook.check._base import CheckFailed, call, expect, passed


def _tensor(name: str, case: str, out: object) -> Tensor:
    expect(isinstance(out, Tensor), name, f"{case} returned {type(out).__name__}, expected a tensor (did you `return` it?)")
    return out  # type: ignore[return-value]


def _values(t: Tensor, n: int = 6) -> str:
    flat = [round(float(v), 3) for v in t.detach().flatten()[:n]]
    return str(flat)[:-1] + (", ...]" if t.numel() > n else "]")


# ---------------------------------------------------------------- ch4-first-filters


def normalize_tensor(fn: Callable[[Tensor], Tensor]) -> None:
    """Check ``normalize_tensor(t)``: smallest entry to 0, largest to 1, linearly (exercise ch4-first-filters)."""
    name = "normalize_tensor"
    t = torch.tensor([-2.0, 0.0, 6.0])
    before = t.clone()
    out = _tensor(name, "normalize_tensor([-2, 0, 6])", call(name, "normalize_tensor([-2, 0, 6])", fn, t))
    expect(torch.equal(t, before), name, "it changed its input in place (e.g. `t -= t.min()`); "
           "compute a new tensor (`t = t - t.min()`) so the weights you draw stay untouched")
    expect(out.shape == t.shape, name, f"normalize_tensor([-2, 0, 6]) has shape {tuple(out.shape)}, expected (3,)")
    got = out.detach().float()
    if torch.allclose(got, torch.tensor([1.0, 0.75, 0.0]), atol=1e-5):
        raise CheckFailed(name, "normalize_tensor([-2, 0, 6]) gave [1, 0.75, 0]: the order is reversed. "
                          "Subtract the minimum and divide by (max - min), not the other way round")
    expect(abs(float(got.min())) < 1e-5, name,
           f"normalize_tensor([-2, 0, 6]) gave {_values(got)}: its smallest value should be 0. "
           "Did you forget to subtract t.min() first?")
    expect(abs(float(got.max()) - 1) < 1e-5, name,
           f"normalize_tensor([-2, 0, 6]) gave {_values(got)}: its largest value should be 1. "
           "Divide by the range t.max() - t.min() (after the shift)")
    expect(torch.allclose(got, torch.tensor([0.0, 0.25, 1.0]), atol=1e-5), name,
           f"normalize_tensor([-2, 0, 6]) gave {_values(got)}, expected [0, 0.25, 1]: "
           "the scaling must be linear, (t - min) / (max - min)")

    weight = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(4)) * 0.05 + 0.01
    out = _tensor(name, "a 4-D conv weight", call(name, "a 4-D conv weight", fn, weight))
    expect(out.shape == weight.shape, name,
           f"a weight of shape {tuple(weight.shape)} came back as {tuple(out.shape)}: keep the shape")
    low, high = float(weight.min()), float(weight.max())
    expect(torch.allclose(out.detach().float(), (weight - low) / (high - low), atol=1e-5), name,
           "on a 4-D conv weight the result is not (t - t.min()) / (t.max() - t.min()) over the whole "
           "tensor: normalize_tensor scales the tensor it is given as one piece "
           "(normalize_filters is the one that goes filter by filter)")

    const = torch.full((2, 3), 5.0)
    out = _tensor(name, "a constant tensor", call(name, "a constant tensor", fn, const))
    expect(out.shape == const.shape, name, f"a constant (2, 3) tensor came back with shape {tuple(out.shape)}")
    expect(bool(torch.isfinite(out).all()), name,
           f"a constant tensor gave {_values(out)}: its range max - min is 0, and dividing by it gives "
           "nan. Handle that case (for example, return zeros)")
    expect(float(out.min()) >= 0 and float(out.max()) <= 1 and float(out.max() - out.min()) == 0, name,
           f"a constant tensor gave {_values(out)}: expected one constant value in [0, 1] (zeros, say)")
    passed(name, 4)


def normalize_filters(fn: Callable[[Tensor], Tensor]) -> None:
    """Check ``normalize_filters(weight)``: each filter ``weight[i]`` scaled to [0, 1] on its own (ch4-first-filters)."""
    name = "normalize_filters"
    generator = torch.Generator().manual_seed(1)
    # Filters of very different strengths: normalized together, the weak ones would span a sliver.
    scales = torch.tensor([1.0, 0.2, 5.0, 0.05])[:, None, None, None]
    weight = torch.randn(4, 3, 3, 3, generator=generator) * scales + 0.1
    before = weight.clone()
    case = "a (4, 3, 3, 3) weight"
    out = _tensor(name, case, call(name, case, fn, weight))
    expect(torch.equal(weight, before), name, "it changed the weight in place; build and return a new tensor")
    expect(out.shape == weight.shape, name, f"{case} came back with shape {tuple(out.shape)}: keep the shape")
    out = out.detach().float()
    for i in range(weight.shape[0]):
        lo, hi = float(out[i].min()), float(out[i].max())
        if abs(lo) > 1e-5 or abs(hi - 1) > 1e-5:
            raise CheckFailed(name, f"each filter must be normalized on its own: filter {i} spans "
                              f"[{lo:.2f}, {hi:.2f}], expected [0, 1]. Normalizing the whole weight at once "
                              "lets the strongest filter set the scale for all; apply normalize_tensor to "
                              "each weight[i]")
        w = weight[i]
        expected = (w - w.min()) / (w.max() - w.min())
        expect(torch.allclose(out[i], expected, atol=1e-5), name,
               f"filter {i} spans [0, 1] but is not (w - w.min()) / (w.max() - w.min()) of weight[{i}]: "
               "normalize the whole filter (all its input channels together), not each channel or kernel apart")
    const = torch.zeros(2, 1, 3, 3)
    const[1] = torch.arange(9.0).reshape(1, 3, 3)
    out = _tensor(name, "a weight with an all-zero filter", call(name, "a weight with an all-zero filter", fn, const))
    expect(bool(torch.isfinite(out).all()), name,
           "a weight with an all-zero filter gave nan or inf: let normalize_tensor handle constant filters")
    expect(torch.allclose(out[1].float(), const[1] / 8, atol=1e-5), name,
           "with an all-zero filter 0 beside it, filter 1 (values 0..8) should become (0..8) / 8")
    passed(name, 2)


# ---------------------------------------------------------------- ch4-remove-last-layers


class _TinyResNet(nn.Module):
    """Children named like a torchvision ResNet's: stem, two stages, avgpool, fc."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer1(self.relu(self.conv1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _children(model: object) -> str:
    if isinstance(model, nn.Module):
        return "[" + ", ".join(type(m).__name__ for m in model.children()) + "]"
    return type(model).__name__


def remove_last_layers(fn: Callable[[nn.Module, int], nn.Module]) -> None:
    """Check ``remove_last_layers(model, n)``: the model without its last ``n`` children (ch4-remove-last-layers)."""
    name = "remove_last_layers"
    torch.manual_seed(0)
    model = _TinyResNet().eval()
    names = [n for n, _ in model.named_children()]
    x = torch.randn(2, 2, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        stem = model.relu(model.conv1(x))
        stage = model.layer1(stem)  # (2, 6, 4, 4)
        logits = model(x)
        expected = {2: stage, 1: model.avgpool(stage), 3: stem}
    for n, target in expected.items():
        case = f"remove_last_layers(model, {n})"
        trunk = call(name, case, fn, model, n)
        with torch.no_grad():
            try:
                unchanged = [m for m, _ in model.named_children()] == names and torch.allclose(model(x), logits)
            except Exception:  # a deleted or replaced child may break the model's forward
                unchanged = False
        expect(unchanged, name,
               f"{case} changed the model it was given (its children are now {_children(model)}): "
               "build a new nn.Sequential from the children instead of deleting or replacing them")
        expect(trunk is not model, name, f"{case} returned the model itself; return a new network "
               f"made of its children except the last {n}")
        expect(isinstance(trunk, nn.Module), name, f"{case} returned {type(trunk).__name__}, expected "
               "a network (an nn.Module such as nn.Sequential)")
        kept = [type(m).__name__ for m in trunk.children()]
        wanted = [type(m).__name__ for m in list(model.children())[:-n]]
        expect(kept == wanted, name,
               f"{case} should keep the first {len(wanted)} children {wanted} of {names}, "
               f"dropping the last {n}; it kept {kept}. Keep every child except the last n, in their order")
        with torch.no_grad():
            out = call(name, f"calling the network from {case}", trunk, x)
        out = _tensor(name, f"the network from {case}", out)
        expect(out.shape == target.shape and torch.allclose(out, target, atol=1e-5), name,
               f"the network from {case} outputs shape {tuple(out.shape)}, expected {tuple(target.shape)} "
               "with the values the model computes there: chain the kept children in order (nn.Sequential)")
    passed(name, len(expected))


# ---------------------------------------------------------------- ch4-ablate-top5


def ablate_units(fn: Callable[[Tensor, Tensor | list[int]], Tensor]) -> None:
    """Check ``ablate_units(features, units)``: a copy with those channels zeroed (ch4-ablate-top5)."""
    name = "ablate_units"
    features = torch.arange(1.0, 1 + 5 * 4 * 3).reshape(5, 4, 3)  # (c, h, w), every entry non-zero
    cases = [("units [1, 3] of a (5, 4, 3) tensor", features, [1, 3]),
             ("units tensor([4]) of a (5, 4, 3) tensor", features, torch.tensor([4])),
             ("units [0, 2] of a batch (3, 5, 4, 3)", torch.stack([features, -features, 2 * features]), [0, 2])]
    for case, f, units in cases:
        before = f.clone()
        out = _tensor(name, case, call(name, case, fn, f, units))
        expect(torch.equal(f, before), name,
               f"{case}: the input features changed. Zero a copy (features.clone()), so the "
               "original maps stay available for the comparison before and after")
        expect(out.shape == f.shape, name, f"{case}: the result has shape {tuple(out.shape)}, expected {tuple(f.shape)}")
        idx = torch.as_tensor(units)
        zeroed = out[..., idx, :, :]
        others = torch.ones(f.shape[-3], dtype=torch.bool)
        others[idx] = False
        if not bool((zeroed == 0).all()):
            wrong_axis = bool((out == 0).any())
            hint = ("some other entries were zeroed instead: units are channels, the third axis from the "
                    "end; index that axis counted from the end, so (c, h, w) and (b, c, h, w) both work" if wrong_axis
                    else "nothing was zeroed")
            raise CheckFailed(name, f"{case}: the maps of the given units are not all zero; {hint}")
        expect(torch.equal(out[..., others, :, :], f[..., others, :, :]), name,
               f"{case}: the maps of the other units changed; only the given channels should be zeroed "
               "(for a batch, the channel axis is 1, not 0)")
    passed(name, len(cases))


# ---------------------------------------------------------------- ch4-hw-by-c


def features_to_hw_by_c(fn: Callable[[Tensor], Tensor]) -> None:
    """Check ``features_to_hw_by_c(features)``: (1, c, h, w) to (h*w, c), row i*w + j = location (i, j) (ch4-hw-by-c)."""
    name = "features_to_hw_by_c"
    c, h, w = 2, 3, 4  # all different, so no wrong layout can pass by symmetry
    features = torch.arange(float(c * h * w)).reshape(1, c, h, w)
    before = features.clone()
    case = "features of shape (1, 2, 3, 4)"
    out = _tensor(name, case, call(name, case, fn, features))
    expect(torch.equal(features, before), name, f"{case}: it changed its input")
    expect(out.shape == (h * w, c), name,
           f"{case} gave shape {tuple(out.shape)}, expected (h*w, c) = ({h * w}, {c}): one row per "
           "location, one column per unit, and no batch axis")
    for i in range(h):
        for j in range(w):
            row = i * w + j
            if not torch.equal(out[row], features[0, :, i, j]):
                scrambled = torch.equal(out, features[0].reshape(h * w, c))
                hint = ("`reshape(h*w, c)` keeps the memory order (all of unit 0's map, then unit 1's), so "
                        "rows mix units and locations though the shape is right. Move the channel axis last "
                        "(permute / transpose) before flattening the locations" if scrambled else
                        f"row {row} must be location (i={i}, j={j}): rows go along each image row first "
                        "(row index i*w + j)")
                raise CheckFailed(name, f"{case}: row {row} should hold the {c} unit activations at "
                                  f"location ({i}, {j}), {_values(features[0, :, i, j])}, got {_values(out[row])}. {hint}")
    features = torch.randn(1, 5, 2, 7, generator=torch.Generator().manual_seed(5))
    case = "random features of shape (1, 5, 2, 7)"
    out = _tensor(name, case, call(name, case, fn, features))
    expect(out.shape == (14, 5), name, f"{case} gave shape {tuple(out.shape)}, expected (h*w, c) = (14, 5)")
    wrong = [(i, j) for i in range(2) for j in range(7) if not torch.equal(out[i * 7 + j], features[0, :, i, j])]
    expect(not wrong, name, f"{case}: rows {[i * 7 + j for i, j in wrong][:4]} do not hold the unit "
           "activations of their locations (row i*w + j is location (i, j))")
    passed(name, 2)


# ---------------------------------------------------------------- ch4-fc-every-location


def class_scores_per_location(fn: Callable[[Tensor, nn.Linear], Tensor]) -> None:
    """Check ``class_scores_per_location(hw_by_c, fc)``: fc applied to every row, bias included (ch4-fc-every-location)."""
    name = "class_scores_per_location"
    generator = torch.Generator().manual_seed(3)
    hw, c, classes = 6, 3, 4
    fc = nn.Linear(c, classes)
    with torch.no_grad():
        fc.weight.copy_(torch.randn(classes, c, generator=generator))
        fc.bias.copy_(torch.tensor([1.0, -2.0, 0.5, 3.0]))
    hw_by_c = torch.rand(hw, c, generator=generator)
    before = hw_by_c.clone()
    case = f"hw_by_c of shape ({hw}, {c}) and fc = nn.Linear({c}, {classes})"
    out = _tensor(name, case, call(name, case, fn, hw_by_c, fc))
    expect(torch.equal(hw_by_c, before), name, f"{case}: it changed hw_by_c")
    expect(out.shape == (hw, classes), name,
           f"{case} gave shape {tuple(out.shape)}, expected (h*w, classes) = ({hw}, {classes}): one row per "
           "location, one score per class. fc acts on the last axis, the c unit activations of a location")
    out = out.detach().float()
    expected = hw_by_c @ fc.weight.detach().T + fc.bias.detach()
    if not torch.allclose(out, expected, atol=1e-5):
        no_bias = torch.allclose(out, expected - fc.bias.detach(), atol=1e-5)
        raise CheckFailed(name, f"{case}: the scores differ from fc(hw_by_c) (row 0: expected "
                          f"{_values(expected[0])}, got {_values(out[0])}). " +
                          ("They miss fc's bias: fc is affine, so call fc(hw_by_c), which adds fc.bias"
                           if no_bias else "Apply fc to each row: fc(hw_by_c)"))
    # The sum relation the chapter relies on: averaging the rows gives fc of the averaged features.
    expect(torch.allclose(out.mean(dim=0), fc(hw_by_c.mean(dim=0)).detach(), atol=1e-5), name,
           f"{case}: the mean over locations is not fc of the mean features")
    passed(name, 2)
