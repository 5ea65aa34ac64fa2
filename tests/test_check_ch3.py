"""Chapter 3's self-checks: the typical wrong answers they catch (the contract every check keeps: test_exercise_contract.py).

The reference solutions come from the chapter notebook (tests/chapter_code.py), so the
tests of the solutions themselves live here too: the chapter's from-scratch
``BatchNorm2d`` (built on its ``bn_statistics`` and ``bn_equation``) against
``nn.BatchNorm2d``, and its slope and intercept against the layer.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from chapter_code import fails, reference
from resnetbook import check

CHAPTER = "03_batchnorm"
EQUATION, STATISTICS = "03-010", "03-010a"  # the cells defining bn_equation and bn_statistics
SHAPES = [(1, 3, 5, 5), (4, 8, 7, 7), (16, 2, 3, 1)]


@functools.cache
def ref(name: str):
    extra = {"bn_slope_intercept": (STATISTICS,), "BatchNorm2d": (EQUATION, STATISTICS)}.get(name, ())
    return reference(CHAPTER, name, extra_cells=extra)


def _per_channel(v: torch.Tensor) -> torch.Tensor:
    return v[None, :, None, None]


# ---------------------------------------------------------------- the chapter's solutions


def _pair(channels: int, momentum: float = 0.1) -> tuple[nn.BatchNorm2d, nn.Module]:
    """A torch layer with non-trivial parameters and buffers, and the chapter's copy of it."""
    g = torch.Generator().manual_seed(channels)
    torch_bn = nn.BatchNorm2d(channels, momentum=momentum)
    with torch.no_grad():
        torch_bn.weight.copy_(torch.randn(channels, generator=g))
        torch_bn.bias.copy_(torch.randn(channels, generator=g))
        torch_bn.running_mean.copy_(torch.randn(channels, generator=g))
        torch_bn.running_var.copy_(torch.rand(channels, generator=g) + 0.5)
    ours = ref("BatchNorm2d")(channels, momentum=momentum)
    ours.load_state_dict(torch_bn.state_dict())
    return torch_bn, ours


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_chapter_batchnorm_matches_torch_in_train_mode(shape, momentum) -> None:
    torch_bn, ours = _pair(shape[1], momentum)
    for step in range(3):  # several steps: the running statistics accumulate
        x = torch.randn(shape, generator=torch.Generator().manual_seed(step)) * 3 + 1
        torch.testing.assert_close(ours(x), torch_bn(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_mean, torch_bn.running_mean)
    torch.testing.assert_close(ours.running_var, torch_bn.running_var)  # updated with the unbiased variance
    assert int(ours.num_batches_tracked) == int(torch_bn.num_batches_tracked) == 3


@pytest.mark.parametrize("shape", SHAPES)
def test_chapter_batchnorm_matches_torch_in_eval_mode(shape) -> None:
    torch_bn, ours = _pair(shape[1])
    torch_bn.eval(), ours.eval()
    x = torch.randn(shape) * 2 - 1
    torch.testing.assert_close(ours(x), torch_bn(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_var, torch_bn.running_var)  # eval leaves the buffers alone


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_slope_intercept_reproduce_the_layer(shape, mode) -> None:
    torch_bn, _ = _pair(shape[1])
    torch_bn.train(mode == "train")
    x = torch.randn(shape) * 2 + 0.5
    with torch.no_grad():
        slope, intercept = ref("bn_slope_intercept")(torch_bn, x, mode)
        y = torch_bn(x)
    assert slope.shape == intercept.shape == (shape[1],)
    assert (x * _per_channel(slope) + _per_channel(intercept) - y).abs().max() < 1e-4


def test_a_bad_mode_is_refused() -> None:
    torch_bn, _ = _pair(3)
    for name in ("bn_statistics", "bn_slope_intercept"):
        with pytest.raises(ValueError, match='mode must be "train" or "eval"'):
            ref(name)(torch_bn, torch.zeros(2, 3, 2, 2), "training")


# ---------------------------------------------------------------- ch3-bn-tensors: bn_equation


def _equation(scale_by=lambda var, eps: torch.sqrt(var + eps), swap: bool = False, broadcast=_per_channel):
    def answer(x, mean, var, weight, bias, eps):
        w, b = (bias, weight) if swap else (weight, bias)
        return (x - broadcast(mean)) / scale_by(broadcast(var), eps) * broadcast(w) + broadcast(b)
    return answer


def test_bn_equation_wrong_answers() -> None:
    fails(check.bn_equation, _equation(lambda var, eps: torch.sqrt(var)), "eps is missing")
    fails(check.bn_equation, _equation(lambda var, eps: torch.sqrt(var) + eps), "eps belongs inside the square root")
    fails(check.bn_equation, _equation(lambda var, eps: var + eps), "not by the variance")
    fails(check.bn_equation, _equation(swap=True), "weight \\(gamma\\) and bias \\(beta\\) are swapped")
    fails(check.bn_equation, _equation(broadcast=lambda v: v), "raised RuntimeError.*reshape them to \\[1, C, 1, 1\\]")
    fails(check.bn_equation, lambda x, mean, var, weight, bias, eps: (x - _per_channel(mean)) / torch.sqrt(_per_channel(var) + eps) + _per_channel(bias),
          "must be multiplied by weight")
    fails(check.bn_equation, lambda x, *args: (x - x.mean()) / x.std(), "differs from \\(x - mean\\) / sqrt\\(var \\+ eps\\)")

    def in_place(x, mean, var, weight, bias, eps):
        x -= _per_channel(mean)
        return x / torch.sqrt(_per_channel(var) + eps) * _per_channel(weight) + _per_channel(bias)

    fails(check.bn_equation, in_place, "changed one of its inputs in place")
    fails(check.bn_equation, lambda *args: None, "returned NoneType, expected a tensor")


# ---------------------------------------------------------------- ch3-bn-tensors: bn_statistics


def _statistics(train, evaluate=lambda bn, x: (bn.running_mean, bn.running_var)):
    return lambda bn, x, mode: train(bn, x) if mode == "train" else evaluate(bn, x)


def test_bn_statistics_wrong_answers() -> None:
    right = lambda bn, x: (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False))  # noqa: E731
    fails(check.bn_statistics, _statistics(lambda bn, x: (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3)))),
          "the unbiased one \\(divided by n - 1\\).*unbiased=False")
    fails(check.bn_statistics, _statistics(lambda bn, x: (x.mean(dim=0), x.var(dim=0, unbiased=False))),
          "shape \\(3, 5, 6\\), expected \\(3,\\).*Only the batch axis was reduced")
    fails(check.bn_statistics, _statistics(lambda bn, x: (x.mean(), x.var(unbiased=False))),
          "shape \\(\\), expected \\(3,\\).*included the channel axis")
    squeezed = lambda bn, x: (torch.mean(torch.squeeze(x), (1, 2)), torch.var(torch.squeeze(x), (1, 2), unbiased=False))  # noqa: E731
    fails(check.bn_statistics, _statistics(squeezed), "torch.squeeze\\(x\\) keeps the batch axis")
    fails(check.bn_statistics, _statistics(lambda bn, x: (bn.running_mean, bn.running_var)),
          'bn_statistics\\(bn, x, "train"\\).*returned the running statistics; in train\\(\\) mode')
    fails(check.bn_statistics, _statistics(right, right),
          'bn_statistics\\(bn, x, "eval"\\).*statistics of the batch x; in eval\\(\\) mode the layer uses its stored')
    fails(check.bn_statistics, _statistics(lambda bn, x: (x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), unbiased=False))),
          "returned the standard deviation")
    fails(check.bn_statistics, _statistics(lambda bn, x: (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)),
                                           lambda bn, x: (bn.running_mean, bn.running_var.sqrt())),
          "expected the layer's running_mean and running_var")

    def runs_the_layer(bn, x):
        bn.train()(x)
        return right(bn, x)

    fails(check.bn_statistics, _statistics(runs_the_layer), "changed the layer's buffers or parameters")
    fails(check.bn_statistics, lambda bn, x, mode: x.mean(dim=(0, 2, 3)), "returned Tensor, expected a pair \\(mean, variance\\)")


# ---------------------------------------------------------------- ch3-slope-intercept


def _line(stats=None, slope_of=lambda w, var, eps: w / torch.sqrt(var + eps), intercept_of=lambda b, mean, s: b - mean * s,
          swap: bool = False, eps=None):
    """A slope/intercept answer; ``stats(bn, x, mode)`` gives (mean, var), the right ones by default."""
    def answer(bn, x, mode):
        mean, var = (stats or ref("bn_statistics"))(bn, x, mode)
        slope = slope_of(bn.weight, var, bn.eps if eps is None else eps)
        intercept = intercept_of(bn.bias, mean, slope)
        return (intercept, slope) if swap else (slope, intercept)
    return answer


def test_bn_slope_intercept_wrong_answers() -> None:
    fails(check.bn_slope_intercept, _line(swap=True), "slope and intercept are swapped")
    fails(check.bn_slope_intercept, _line(slope_of=lambda w, var, eps: w / torch.sqrt(var)), "eps is missing")
    fails(check.bn_slope_intercept, _line(slope_of=lambda w, var, eps: w / (torch.sqrt(var) + eps)),
          "eps belongs inside the square root")
    fails(check.bn_slope_intercept, _line(eps=1e-5), "use the layer's own eps \\(bn.eps\\)")
    fails(check.bn_slope_intercept, _line(intercept_of=lambda b, mean, s: b - mean),
          "the intercept is bias - mean \\* slope")
    running = lambda bn, x, mode: (bn.running_mean, bn.running_var)  # noqa: E731
    fails(check.bn_slope_intercept, _line(stats=running),
          'bn_slope_intercept\\(bn, x, "train"\\): in train\\(\\) mode the line comes from the batch statistics')
    batch = lambda bn, x, mode: (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False))  # noqa: E731
    fails(check.bn_slope_intercept, _line(stats=batch),
          'bn_slope_intercept\\(bn, x, "eval"\\): in eval\\(\\) mode the line comes from running_mean')
    unbiased = lambda bn, x, mode: (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3))) if mode == "train" \
        else (bn.running_mean, bn.running_var)  # noqa: E731
    fails(check.bn_slope_intercept, _line(stats=unbiased), "the variance must be the biased one")
    fails(check.bn_slope_intercept, _line(intercept_of=lambda b, mean, s: b + mean * s),
          "the slope is right but the intercept of channel 0")
    fails(check.bn_slope_intercept, _line(slope_of=lambda w, var, eps: 2 * w / torch.sqrt(var + eps)),
          "the slope of channel 0 is")

    def runs_the_layer(bn, x, mode):
        bn.train(mode == "train")(x)
        return _line()(bn, x, mode)

    fails(check.bn_slope_intercept, runs_the_layer, "changed the layer's buffers or parameters")
    fails(check.bn_slope_intercept, lambda bn, x, mode: (bn.weight, bn.bias, bn.eps),
          "expected a pair \\(slope, intercept\\)")
