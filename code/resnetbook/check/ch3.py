"""Self-checks for chapter 3 (batch normalization): the equation, its statistics, slope and intercept.

Each check builds a small ``nn.BatchNorm2d`` with non-trivial parameters and running
statistics, feeds it small random inputs, and compares the student's function with
``torch.nn.functional.batch_norm`` and the layer itself. The shapes differ on every
axis (N, C, H, W), so an average over the wrong axes cannot pass by accident, and
``eps`` is large enough that forgetting or misplacing it shows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnetbook.check._base import CheckFailed, call, expect, passed

Stats = tuple[Tensor, Tensor]
SHAPE = (4, 3, 5, 6)  # N, C, H, W: all different
EPS = 0.1  # large, so that its place in the formula shows in the values


def _case_tensors(seed: int, shape: tuple[int, ...] = SHAPE) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """An input with a different mean and spread per channel, and per-channel mean, var, weight, bias."""
    generator = torch.Generator().manual_seed(seed)
    c = shape[1]
    spread = torch.tensor([0.2, 1.0, 3.0, 0.5, 2.0][:c])[None, :, None, None]
    offset = torch.tensor([-1.0, 0.5, 2.0, 0.0, 1.0][:c])[None, :, None, None]
    x = torch.randn(shape, generator=generator) * spread + offset
    mean = torch.randn(c, generator=generator)
    var = torch.tensor([0.01, 1.5, 4.0, 0.3, 2.0][:c])  # a tiny variance: eps matters there
    weight = torch.randn(c, generator=generator) + 1.5
    bias = torch.randn(c, generator=generator)
    return x, mean, var, weight, bias


def batchnorm_with(mean: Tensor, var: Tensor, weight: Tensor, bias: Tensor, eps: float) -> nn.BatchNorm2d:
    """A BatchNorm2d with these running statistics, weight and bias (these checks, and the autograder's)."""
    bn = nn.BatchNorm2d(len(weight), eps=eps)
    with torch.no_grad():
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    return bn


def _layer(seed: int, shape: tuple[int, ...] = SHAPE) -> tuple[nn.BatchNorm2d, Tensor]:
    """A BatchNorm2d (eps=EPS) with random weight, bias and running statistics, and an input for it."""
    x, *stats = _case_tensors(seed, shape)
    return batchnorm_with(*stats, eps=EPS), x


def _close(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.detach().double(), b.detach().double(), rtol=1e-4, atol=1e-5)


def _tensor(name: str, case: str, out: object, what: str = "a tensor") -> Tensor:
    expect(isinstance(out, Tensor), name, f"{case} returned {type(out).__name__}, expected {what} (did you `return` it?)")
    return out  # type: ignore[return-value]


def _pair(name: str, case: str, out: object, x_shape: tuple[int, ...], what: tuple[str, str]) -> Stats:
    """The two per-channel tensors a function returns, checked for type and shape."""
    expect(isinstance(out, (tuple, list)) and len(out) == 2, name,
           f"{case} returned {type(out).__name__}, expected a pair ({what[0]}, {what[1]})")
    first, second = (_tensor(name, case, t, f"{w} as a tensor") for t, w in zip(out, what))
    c = x_shape[1]
    for t, w in ((first, what[0]), (second, what[1])):
        if t.shape != (c,):
            raise CheckFailed(name, f"{case}: {w} has shape {tuple(t.shape)}, expected ({c},), one value per "
                              f"channel. {_axes_hint(t.shape, x_shape)}")
    return first, second


def _axes_hint(shape: torch.Size, x_shape: tuple[int, ...]) -> str:
    """What a wrong shape of a per-channel statistic says about the axes it was reduced over."""
    n, c, h, w = x_shape
    if shape == ():
        return "It is one number: the reduction included the channel axis. Reduce over (0, 2, 3) only"
    if shape == (c, h, w):
        return "Only the batch axis was reduced; reduce over the images *and* the positions, axes (0, 2, 3)"
    if n > 1 and shape in ((n, w), (n, h), (n, c)):
        return ("With a batch of several images torch.squeeze(x) keeps the batch axis, so axes (1, 2) "
                "are no longer (H, W). Reduce over (0, 2, 3)")
    return "Reduce over axes (0, 2, 3): images, rows and columns"


def _per_channel(v: Tensor) -> Tensor:
    return v[None, :, None, None]


# ---------------------------------------------------------------- ch3-bn-tensors


def bn_equation(fn: Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, float], Tensor]) -> None:
    """Check ``bn_equation(x, mean, var, weight, bias, eps)`` against ``F.batch_norm`` (ch3-bn-tensors)."""
    name = "bn_equation"
    cases = [(f"bn_equation on x of shape {SHAPE}, eps={EPS}", SHAPE, EPS),
             ("bn_equation on x of shape (1, 3, 5, 6), eps=1e-5", (1, 3, 5, 6), 1e-5)]
    for seed, (case, shape, eps) in enumerate(cases):
        x, mean, var, weight, bias = _case_tensors(seed, shape)
        inputs = [t.clone() for t in (x, mean, var, weight, bias)]
        try:
            out = fn(x, mean, var, weight, bias, eps)
        except NotImplementedError:
            raise
        except RuntimeError as err:
            hint = (" The per-channel vectors (shape [C]) must line up with axis 1 of x: reshape them to "
                    "[1, C, 1, 1], e.g. mean[None, :, None, None]" if "size of tensor" in str(err) else "")
            raise CheckFailed(name, f"{case} raised RuntimeError: {err}.{hint}") from err
        except Exception as err:  # the student's code may raise anything
            raise CheckFailed(name, f"{case} raised {type(err).__name__}: {err}") from err
        out = _tensor(name, case, out)
        expect(all(torch.equal(a, b) for a, b in zip((x, mean, var, weight, bias), inputs)), name,
               f"{case}: it changed one of its inputs in place; compute new tensors instead")
        expect(out.shape == x.shape, name, f"{case} gave shape {tuple(out.shape)}, expected x's shape {shape}. "
               "Reshape the per-channel vectors to [1, C, 1, 1] so they broadcast over images and positions")
        expected = F.batch_norm(x, mean, var, weight, bias, training=False, eps=eps)
        if _close(out, expected):
            continue
        centred = x - _per_channel(mean)
        scale, shift = _per_channel(weight), _per_channel(bias)
        wrong = {
            "eps is missing: divide by sqrt(var + eps), so that a channel with a tiny variance stays finite":
                centred / torch.sqrt(_per_channel(var)) * scale + shift,
            "eps belongs inside the square root: sqrt(var + eps), not sqrt(var) + eps":
                centred / (torch.sqrt(_per_channel(var)) + eps) * scale + shift,
            "divide by the standard deviation sqrt(var + eps), not by the variance":
                centred / (_per_channel(var) + eps) * scale + shift,
            "weight (gamma) and bias (beta) are swapped: weight scales, bias shifts":
                centred / torch.sqrt(_per_channel(var) + eps) * shift + scale,
            "the normalized value must be multiplied by weight (gamma) before bias (beta) is added":
                centred / torch.sqrt(_per_channel(var) + eps) + shift,
        }
        for message, candidate in wrong.items():
            if _close(out, candidate):
                raise CheckFailed(name, f"{case}: {message}")
        raise CheckFailed(name, f"{case} differs from (x - mean) / sqrt(var + eps) * weight + bias "
                          f"(max |difference| {(out.detach() - expected).abs().max().item():.3g}): "
                          "each of mean, var, weight, bias applies to its own channel, axis 1 of x")
    passed(name, len(cases))


def bn_statistics(fn: Callable[[nn.BatchNorm2d, Tensor, str], Stats]) -> None:
    """Check ``bn_statistics(bn, x, mode)``: the E[x] and Var[x] a BatchNorm2d uses in each mode (ch3-bn-tensors)."""
    name = "bn_statistics"
    n_cases = 0
    for seed, shape in enumerate((SHAPE, (1, 3, 5, 6))):
        bn, x = _layer(seed, shape)
        state = {k: v.clone() for k, v in bn.state_dict().items()}
        batch_mean, batch_var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
        unbiased = x.var(dim=(0, 2, 3), unbiased=True)
        # What the layer itself uses: F.batch_norm with training=True normalizes with the batch statistics.
        torch.testing.assert_close(F.batch_norm(x, None, None, training=True, eps=EPS),
                                   (x - _per_channel(batch_mean)) / torch.sqrt(_per_channel(batch_var) + EPS))
        for mode in ("train", "eval"):
            case = f'bn_statistics(bn, x, "{mode}") with x of shape {tuple(shape)}'
            mean, var = _pair(name, case, call(name, case, fn, bn, x, mode), shape, ("mean", "variance"))
            expect(all(torch.equal(v, state[k]) for k, v in bn.state_dict().items()), name,
                   f"{case} changed the layer's buffers or parameters (running a layer in train mode updates "
                   "running_mean and running_var): compute the statistics, do not run the layer")
            running = (bn.running_mean, bn.running_var)
            if mode == "train":
                if _close(mean, running[0]) or _close(var, running[1]):
                    raise CheckFailed(name, f"{case} returned the running statistics; in train() mode the layer "
                                      "normalizes with the statistics of the current batch x")
                expect(_close(mean, batch_mean), name,
                       f"{case}: the mean is not the mean of each channel over the batch and positions, "
                       "axes (0, 2, 3)")
                if _close(var, unbiased) and shape[0] * shape[2] * shape[3] > 1:
                    raise CheckFailed(name, f"{case}: the variance is the unbiased one (divided by n - 1); "
                                      "train mode normalizes with the biased variance: unbiased=False")
                if _close(var, batch_var.sqrt()):
                    raise CheckFailed(name, f"{case} returned the standard deviation; return the variance")
                expect(_close(var, batch_var), name,
                       f"{case}: the variance is not the biased variance of each channel over axes (0, 2, 3)")
            else:
                if _close(mean, batch_mean) or _close(var, batch_var) or _close(var, unbiased):
                    raise CheckFailed(name, f"{case} returned statistics of the batch x; in eval() mode the layer "
                                      "uses its stored running_mean and running_var")
                expect(_close(mean, running[0]) and _close(var, running[1]), name,
                       f"{case}: expected the layer's running_mean and running_var")
            n_cases += 1
    passed(name, n_cases)


# ---------------------------------------------------------------- ch3-slope-intercept


def bn_slope_intercept(fn: Callable[[nn.BatchNorm2d, Tensor, str], Stats]) -> None:
    """Check ``bn_slope_intercept(bn, x, mode)``: slope * x + intercept equals the layer's output (ch3-slope-intercept)."""
    name = "bn_slope_intercept"
    bn, x = _layer(7)
    state = {k: v.clone() for k, v in bn.state_dict().items()}
    with torch.no_grad():
        layer_out = {"train": copy.deepcopy(bn).train()(x), "eval": copy.deepcopy(bn).eval()(x)}
        stats = {"train": (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)),
                 "eval": (bn.running_mean.clone(), bn.running_var.clone())}
        weight, bias = bn.weight.detach().clone(), bn.bias.detach().clone()
    for mode in ("train", "eval"):
        case = f'bn_slope_intercept(bn, x, "{mode}")'
        slope, intercept = _pair(name, case, call(name, case, fn, bn, x, mode), tuple(x.shape), ("slope", "intercept"))
        expect(all(torch.equal(v, state[k]) for k, v in bn.state_dict().items()), name,
               f"{case} changed the layer's buffers or parameters (running the layer in train mode updates its "
               "running statistics): compute slope and intercept from the tensors, do not run the layer")
        predicted = x * _per_channel(slope.detach()) + _per_channel(intercept.detach())
        if _close(predicted, layer_out[mode]):
            continue
        mean, var = stats[mode]
        other = stats["eval" if mode == "train" else "train"]
        right_slope = weight / torch.sqrt(var + EPS)
        candidates = {
            "slope and intercept are swapped: return (slope, intercept)":
                (bias - mean * right_slope, right_slope),
            "eps is missing: slope = weight / sqrt(var + eps)":
                (weight / torch.sqrt(var), None),
            "eps belongs inside the square root: weight / sqrt(var + eps)":
                (weight / (torch.sqrt(var) + EPS), None),
            "use the layer's own eps (bn.eps), not PyTorch's default 1e-5":
                (weight / torch.sqrt(var + 1e-5), None),
            "the intercept is bias - mean * slope: the mean is scaled by the slope too":
                (right_slope, bias - mean),
            ("in train() mode the line comes from the batch statistics of x, not the running ones" if mode == "train"
             else "in eval() mode the line comes from running_mean and running_var, not the batch statistics of x"):
                (weight / torch.sqrt(other[1] + EPS), None),
        }
        if mode == "train":
            unbiased = x.var(dim=(0, 2, 3), unbiased=True)
            candidates["the variance must be the biased one (unbiased=False): train mode divides by n, not n - 1"] = \
                (weight / torch.sqrt(unbiased + EPS), None)
        for message, (want_slope, want_intercept) in candidates.items():
            if _close(slope, want_slope) and (want_intercept is None or _close(intercept, want_intercept)):
                raise CheckFailed(name, f"{case}: {message}")
        if not _close(slope, right_slope):
            raise CheckFailed(name, f"{case}: the slope of channel 0 is {slope[0].item():.4g}, expected "
                              f"weight / sqrt(var + eps) = {right_slope[0].item():.4g}")
        raise CheckFailed(name, f"{case}: the slope is right but the intercept of channel 0 is "
                          f"{intercept[0].item():.4g}, expected bias - mean * slope = "
                          f"{(bias - mean * right_slope)[0].item():.4g}")
    passed(name, 2)
