"""Self-checks for chapter 5 (training): one epoch of ``train``, ``get_prediction``, ``evaluate``.

Each check runs the student's function on a tiny linear classifier that records, at every
forward pass, whether it was in training mode and whether gradients were tracked. The
batches are hand-made, the last one smaller than the others, so that averaging per batch
instead of per example shows. ``train`` is compared with plain SGD steps computed here
with ``torch.autograd.grad``, never with a copy of the chapter's solution.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnetbook.check._base import CheckFailed, call, expect, passed

Batch = tuple[Tensor, Tensor]
LR = 0.1  # plain SGD, no momentum: one step is w - LR * grad
ARGMAX_HINT = " (is the argmax taken over dim=1, the classes, rather than dim=0, the examples?)"


class _Probe(nn.Module):
    """A linear classifier on flattened images that records how it was called.

    ``passthrough=True``: the flattened images *are* the logits (times a parameter equal
    to 1), so a test can choose each prediction.
    """

    def __init__(self, n_in: int = 4, n_classes: int = 3, passthrough: bool = False) -> None:
        super().__init__()
        self.passthrough = passthrough
        self.scale = nn.Parameter(torch.ones(()))
        self.linear = nn.Linear(n_in, n_classes)
        with torch.no_grad():  # small weights; a large bias makes class 0 the prediction throughout
            self.linear.weight.copy_(0.3 * torch.randn(n_classes, n_in, generator=torch.Generator().manual_seed(5)))
            self.linear.bias.copy_(torch.tensor([3.0] + [0.0] * (n_classes - 1)))
        self.modes: list[bool] = []
        self.grad_enabled: list[bool] = []

    def forward(self, X: Tensor) -> Tensor:
        self.modes.append(self.training)
        self.grad_enabled.append(torch.is_grad_enabled())
        flat = X.flatten(1)
        return flat * self.scale if self.passthrough else self.linear(flat)


def _run(name: str, case: str, fn: Callable, model: _Probe, *args) -> object:
    """``fn(model, *args)``; an error becomes a CheckFailed whose message adds the likely cause."""
    try:
        return call(name, case, fn, model, *args)
    except CheckFailed as failed:
        message = str(failed).split(": ", 1)[1]
        if name == "train" and not all(model.grad_enabled):
            message += (". The forward pass ran without gradients (under torch.no_grad()): "
                        "training needs them for loss.backward()")
        elif "must match the size" in message:
            message += ARGMAX_HINT
        elif "has no len()" in message:
            message += ("; data may be a generator, which has no len() and can be gone over only once: "
                        "count the images as the loop goes")
        raise CheckFailed(name, message) from failed.__cause__


def _number(name: str, what: str, value: object) -> float:
    """``value`` as a float; CheckFailed when it is not one number."""
    if isinstance(value, Tensor):
        expect(value.numel() == 1, name, f"{what} is a tensor of shape {tuple(value.shape)}, expected one number")
        expect(not value.requires_grad, name,
               f"{what} is a tensor that still holds the computation graph of the epoch (it keeps every "
               "batch's graph in memory): add up loss.item(), a plain Python number, instead of loss")
        return float(value)
    expect(isinstance(value, numbers.Real) and not isinstance(value, bool), name,
           f"{what} is {value!r} ({type(value).__name__}), expected a number")
    return float(value)


def _type_name(value: object) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)


# ---------------------------------------------------------------- ch5-train-epoch

# Three batches of 4, 4 and 2 "images" [B, 1, 2, 2]. The probe predicts class 0 throughout
# (its bias), so 4 of 4, 2 of 4 and 0 of 2 are right: 6 of 10 images (0.6), while the mean
# of the batch accuracies is 0.5.
TRAIN_LABELS = ([0, 0, 0, 0], [0, 0, 1, 2], [1, 2])


def _train_batches() -> list[Batch]:
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(len(y), 1, 2, 2, generator=generator), torch.tensor(y)) for y in TRAIN_LABELS]


def _sgd_epoch(model: _Probe, batches: list[Batch], lr: float, accumulate: bool = False,
               ) -> tuple[list[Tensor], list[tuple[float, int, int]]]:
    """Weights after plain SGD on each batch's mean cross-entropy, and each batch's (loss, right, size).

    ``accumulate=True``: what happens without ``zero_grad``, each step uses the sum of the
    gradients so far.
    """
    params = [p.detach().clone().requires_grad_(True) for p in (model.linear.weight, model.linear.bias)]
    running = [torch.zeros_like(p) for p in params]
    per_batch = []
    for X, y in batches:
        logits = F.linear(X.flatten(1), *params)
        loss = F.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, params)
        running = [r + g for r, g in zip(running, grads)] if accumulate else list(grads)
        with torch.no_grad():
            for p, g in zip(params, running):
                p -= lr * g
        per_batch.append((loss.item(), int((logits.argmax(1) == y).sum()), len(y)))
    return [p.detach() for p in params], per_batch


def _weights(model: _Probe) -> list[Tensor]:
    return [model.linear.weight.detach().clone(), model.linear.bias.detach().clone()]


def _same(a: list[Tensor], b: list[Tensor]) -> bool:
    return all(torch.allclose(x, y, atol=1e-5, rtol=1e-4) for x, y in zip(a, b))


def _gap(a: list[Tensor], b: list[Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def _model_copy(weights: list[Tensor]) -> _Probe:
    """A fresh probe holding ``weights`` (weight, bias)."""
    model = _Probe()
    with torch.no_grad():
        model.linear.weight.copy_(weights[0])
        model.linear.bias.copy_(weights[1])
    return model


def _returned_pair(name: str, case: str, result: object) -> tuple[float, float]:
    expect(isinstance(result, (tuple, list)) and len(result) == 2, name,
           f"{case} returned {result!r}; return two numbers: (mean loss, training accuracy)")
    loss, accuracy = result  # type: ignore[misc]
    return _number(name, "the returned mean loss", loss), _number(name, "the returned accuracy", accuracy)


def _train_one_batch(fn: Callable) -> None:
    """One batch, starting in evaluation mode: training mode, and one SGD step on the mean loss."""
    name, case = "train", "train on one batch of 4 images with SGD(lr=0.1)"
    model = _Probe().eval()  # as evaluate leaves it: train must switch to training mode itself
    batch = _train_batches()[0]
    start = _weights(model)
    _returned_pair(name, case, _run(name, case, fn, model, iter([batch]), torch.optim.SGD(model.parameters(), lr=LR)))
    expect(bool(model.modes), name, f"{case}: the model was never called on the batch")
    expect(all(model.modes), name,
           "the model ran in evaluation mode: call model.train() at the start of train. Layers such as "
           "dropout and batch normalization behave differently while training, and a model that "
           "evaluate used is left in evaluation mode")
    after = _weights(model)
    expect(not _same(after, start), name,
           f"{case}: the weights did not change. For each batch call loss.backward() and then "
           "optimizer.step() (with optimizer.zero_grad() before loss.backward(), not between it and the step)")
    expected, ((_, _, size),) = _sgd_epoch(_model_copy(start), [batch], LR)
    summed, _ = _sgd_epoch(_model_copy(start), [batch], LR * size)
    if _same(after, summed):
        raise CheckFailed(name, f"{case}: the step is {size} times too large, as if the loss were summed over "
                          "the batch. Use the mean cross-entropy over the batch (nn.CrossEntropyLoss()'s default)")
    expect(_same(after, expected), name,
           f"{case}: the weights differ from one SGD step on the batch's mean cross-entropy (by up to "
           f"{_gap(after, expected):.3g}). Compute loss = nn.CrossEntropyLoss()(model(X), y), then call "
           "loss.backward() and optimizer.step() once per batch")


def _train_three_batches(fn: Callable) -> None:
    """Three batches (4, 4, 2) from a generator: zero_grad, and averages per example."""
    name, case = "train", "train on a generator of 3 batches of 4, 4 and 2 images"
    batches = _train_batches()
    model = _Probe()
    start = _weights(model)
    loss, accuracy = _returned_pair(name, case, _run(name, case, fn, model, (b for b in batches),
                                                     torch.optim.SGD(model.parameters(), lr=LR)))
    after = _weights(model)
    expected, per_batch = _sgd_epoch(_model_copy(start), batches, LR)
    accumulated, _ = _sgd_epoch(_model_copy(start), batches, LR, accumulate=True)
    if _same(after, accumulated):
        raise CheckFailed(name, f"{case}: the gradients added up from batch to batch. loss.backward() adds "
                          "to each weight's .grad: call optimizer.zero_grad() before it, for every batch")
    expect(_same(after, expected), name,
           f"{case}: after 3 batches the weights differ from 3 plain SGD steps, one per batch (by up to "
           f"{_gap(after, expected):.3g}). Make one optimizer.step() per batch, each after "
           "optimizer.zero_grad() and loss.backward()")
    losses, rights, sizes = zip(*per_batch)
    n, mean_loss = sum(sizes), sum(l * s for l, s in zip(losses, sizes)) / sum(sizes)
    if any(_close(loss, wrong) for wrong in (sum(losses), sum(l * s for l, s in zip(losses, sizes)))):
        raise CheckFailed(name, f"{case}: it returned the mean loss {loss:.4f}, a sum: divide by the number "
                          f"of images ({n}) to get the mean {mean_loss:.4f}")
    if _close(loss, sum(losses) / len(losses)):
        raise CheckFailed(name, f"{case}: it returned {loss:.4f}, the mean of the 3 batch losses, as if the "
                          f"batches were equal; the last has only 2 images. Add up loss.item() * len(y) and "
                          f"divide by the number of images, {n} (expected {mean_loss:.4f})")
    expect(_close(loss, mean_loss), name,
           f"{case}: it returned the mean loss {loss:.4f}, expected {mean_loss:.4f}: the mean cross-entropy "
           "per image over the epoch, from each batch's forward pass before its update")
    right = sum(rights)
    if _close(accuracy, right):
        raise CheckFailed(name, f"{case}: it returned the accuracy {accuracy:g}, the number of right "
                          f"predictions; divide by the number of images, {n}")
    if _close(accuracy, sum(r / s for r, s in zip(rights, sizes)) / len(sizes)):
        raise CheckFailed(name, f"{case}: it returned the accuracy {accuracy:g}, the mean of the batch "
                          f"accuracies; the last batch has only 2 images. Count the right predictions over "
                          f"the epoch and divide by the number of images (expected {right}/{n} = {right / n:g})")
    expect(_close(accuracy, right / n), name,
           f"{case}: it returned the accuracy {accuracy:g}, expected {right}/{n} = {right / n:g}: the fraction "
           "of images whose largest logit (argmax over dim=1) is the true class, from each batch's forward pass")


def train_epoch(fn: Callable[..., tuple[float, float]]) -> None:
    """Check ``train(model, data, optimizer)``: one epoch of SGD, mean loss and accuracy (ch5-train-epoch)."""
    _train_one_batch(fn)
    _train_three_batches(fn)
    passed("train", 2)


# ---------------------------------------------------------------- ch5-predict-evaluate

# Logits of 5 images over 3 classes (images [5, 3, 1, 1] that the passthrough probe returns).
LOGITS = torch.tensor([[3.0, 1, 0], [0, 2, 5], [0, 4, 1], [1, 3, 2], [0, 1, 2]])
PREDICTED = [0, 2, 1, 1, 2]


def _prediction_case(name: str, fn: Callable, logits: Tensor, expected: list[int], case: str) -> _Probe:
    model = _Probe(passthrough=True).train()  # as train leaves it: get_prediction must switch
    out = _run(name, case, fn, model, logits.view(len(logits), -1, 1, 1))
    expect(isinstance(out, Tensor), name,
           f"{case} returned {_type_name(out)}, expected a tensor of class indices"
           + (" (.max(dim=1) gives values and indices: take .indices, or use argmax)" if hasattr(out, "indices") else ""))
    n, k = logits.shape
    expect(tuple(out.shape) != (k,) or n == k, name,
           f"{case} returned {k} values for {n} images: the argmax was taken over dim=0, the images; "
           "take it over dim=1, the classes")
    expect(tuple(out.shape) == (n,), name,
           f"{case} returned shape {tuple(out.shape)}, expected ({n},): one class index per image")
    expect(not out.dtype.is_floating_point, name,
           f"{case} returned floats {out.tolist()}; return the index of the largest logit (argmax), not its value")
    expect(out.tolist() == expected, name, f"{case} predicted {out.tolist()}, expected {expected}: for each "
           "image the class with the largest logit")
    return model


def _eval_mode(name: str, model: _Probe) -> None:
    expect(bool(model.modes), name, "the model was never called")
    expect(not any(model.modes), name,
           "the model ran in training mode: call model.eval() before predicting. Dropout and batch "
           "normalization behave differently at inference, and train leaves the model in training mode")
    expect(not any(model.grad_enabled), name,
           "gradients were tracked while predicting: run the model under `with torch.no_grad():`, "
           "which saves the memory and time of recording the computation graph")


def get_prediction(fn: Callable[[nn.Module, Tensor], Tensor]) -> None:
    """Check ``get_prediction(model, X)``: argmax over the classes, in eval mode, without gradients (ch5-predict-evaluate)."""
    name = "get_prediction"
    model = _prediction_case(name, fn, LOGITS, PREDICTED, "get_prediction on 5 images of 3 classes")
    _eval_mode(name, model)
    _prediction_case(name, fn, LOGITS[:1], PREDICTED[:1], "get_prediction on a batch of 1 image")
    passed(name, 2)


def evaluate(fn: Callable[[nn.Module, Iterable[Batch]], float]) -> None:
    """Check ``evaluate(model, data)``: the fraction of all images predicted right (ch5-predict-evaluate)."""
    name = "evaluate"
    # 5 classes; batches of 4, 4 and 2 images with 4, 2 and 0 right: 6 of 10, while the
    # batch accuracies average to 0.5.
    y = [torch.tensor([0, 1, 2, 3]), torch.tensor([4, 0, 1, 2]), torch.tensor([3, 4])]
    predicted = [[0, 1, 2, 3], [4, 0, 0, 0], [0, 0]]
    batches = [(F.one_hot(torch.tensor(p), 5).float().view(len(p), 5, 1, 1), t) for p, t in zip(predicted, y)]
    case = "evaluate on a generator of 3 batches of 4, 4 and 2 images"
    model = _Probe(passthrough=True).train()

    def generate() -> Iterator[Batch]:
        yield from batches

    result = _number(name, f"what {case} returned", _run(name, case, fn, model, generate()))
    _eval_mode(name, model)
    if _close(result, 6):
        raise CheckFailed(name, f"{case}: it returned 6, the number of right predictions; divide by the "
                          "number of images, 10")
    if _close(result, 0.5):
        raise CheckFailed(name, f"{case}: it returned 0.5, the mean of the batch accuracies (1, 0.5 and 0); "
                          "the last batch has only 2 images. Count the right predictions over all batches "
                          "and divide by the number of images: 6/10 = 0.6")
    expect(_close(result, 0.6), name, f"{case}: it returned {result:g}, expected 0.6 (6 of the 10 images "
           "have their largest logit at the true class)")

    case = "evaluate on a list of one batch of 3 images, 2 of them right"
    model = _Probe(passthrough=True).eval()
    one = [(F.one_hot(torch.tensor([0, 1, 0]), 5).float().view(3, 5, 1, 1), torch.tensor([0, 1, 2]))]
    result = _number(name, f"what {case} returned", _run(name, case, fn, model, one))
    expect(_close(result, 2 / 3), name, f"{case}: it returned {result:g}, expected 2/3 = {2 / 3:.4f}")
    passed(name, 2)
