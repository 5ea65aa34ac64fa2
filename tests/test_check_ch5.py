"""Chapter 5's self-checks: the typical wrong answers they catch (the contract every check keeps: test_exercise_contract.py).

The reference ``train``, ``get_prediction`` and ``evaluate`` come from the chapter notebook
(tests/chapter_code.py), so the tests of the loop itself (it learns, mixed precision on
either CPU path, a hand-made accuracy) live here too.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from chapter_code import fails, reference
from training_fixtures import toy_data
from resnetbook import check, models, training
from resnetbook.check import ch5

CHAPTER = "05_training"
GET_PREDICTION_CELL = "05-019"  # evaluate calls the notebook's get_prediction


@functools.cache
def ref(name: str):
    extra = (GET_PREDICTION_CELL,) if name == "evaluate" else ()
    return reference(CHAPTER, name, extra_cells=extra)


# ---------------------------------------------------------------- the reference passes


def test_the_cases_tell_the_wrong_averages_apart() -> None:
    # The check's batches are built so that per-example and per-batch averages differ.
    model = ch5._Probe()
    _, per_batch = ch5._sgd_epoch(model, ch5._train_batches(), ch5.LR)
    losses, rights, sizes = zip(*per_batch)
    assert sizes == (4, 4, 2) and rights == (4, 2, 0)  # class 0 predicted throughout
    assert sum(rights) / sum(sizes) == 0.6 and sum(r / s for r, s in zip(rights, sizes)) / 3 == 0.5
    per_example = sum(l * s for l, s in zip(losses, sizes)) / sum(sizes)
    assert abs(per_example - sum(losses) / 3) > 0.05


# ---------------------------------------------------------------- the reference loop itself


def test_reference_train_lowers_the_loss_and_evaluate_sees_it() -> None:
    torch.manual_seed(0)
    X, y = toy_data()
    model = models.starter_cnn(width=4, hidden=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    before = ref("evaluate")(model, training.batches(X, y, 100))
    losses = [ref("train")(model, training.batches(X, y, 32), optimizer)[0] for _ in range(3)]
    assert losses[-1] < 0.7 * losses[0]
    assert ref("evaluate")(model, training.batches(X, y, 100)) > before + 0.3


@pytest.mark.parametrize("forced", ["0", "1"])
def test_reference_train_runs_with_either_cpu_precision(monkeypatch, forced) -> None:
    monkeypatch.setenv("RESNETBOOK_BF16", forced)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    X, y = torch.randn(32, 1, 2, 2), torch.randint(0, 3, (32,))
    before = [p.detach().clone() for p in model.parameters()]
    loss, acc = ref("train")(model, [(X, y)], torch.optim.SGD(model.parameters(), lr=0.1), amp=True)
    assert loss > 0 and 0 <= acc <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


class Fixed(nn.Module):
    """A 'model' that returns given logits, for hand-checked accuracies."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, X):
        return self.logits[: len(X)]


def test_reference_prediction_and_accuracy_on_a_hand_made_case() -> None:
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([0, 1, 1, 1])  # right, right, wrong, wrong
    assert ref("get_prediction")(Fixed(logits), torch.zeros(4, 1, 2, 2)).tolist() == [0, 1, 0, 0]
    assert ref("evaluate")(Fixed(logits), [(torch.zeros(4, 1, 2, 2), y)]) == 0.5


# ---------------------------------------------------------------- ch5-train-epoch: wrong answers


def student_train(mistake: str):
    """A plain float32 ``train`` with one typical mistake (``"none"``: a correct one)."""

    def train(model, data, optimizer, amp=False):
        if mistake != "no model.train()":
            model.train()
        total, correct, count, batch_losses, batch_accs = 0.0, 0, 0, [], []
        if mistake == "len(data)":
            len(data)  # the mistake: a generator of batches has no len()
        for X, y in data:
            if mistake == "forward under no_grad":
                with torch.no_grad():
                    logits = model(X)
            else:
                logits = model(X)
            loss = F.cross_entropy(logits, y, reduction="sum" if mistake == "summed loss" else "mean")
            if mistake not in ("no zero_grad", "zero_grad between backward and step"):
                optimizer.zero_grad()
            loss.backward()
            if mistake == "zero_grad between backward and step":
                optimizer.zero_grad()
            if mistake != "no step":
                optimizer.step()
            right = (logits.argmax(dim=0 if mistake == "argmax dim=0" else 1) == y).sum().item()
            total += loss * len(y) if mistake == "loss tensor" else loss.item() * len(y)
            correct += right
            count += len(y)
            batch_losses.append(loss.item())
            batch_accs.append(right / len(y))
        mean_loss = {"sum of losses": total, "mean of batch losses": sum(batch_losses) / len(batch_losses),
                     "loss tensor": total / count}.get(mistake, total / count)
        accuracy = {"accuracy as count": correct,
                    "mean of batch accuracies": sum(batch_accs) / len(batch_accs)}.get(mistake, correct / count)
        return mean_loss if mistake == "only the loss" else (mean_loss, accuracy)

    return train


def test_a_correct_student_train_passes(capsys) -> None:
    check.train_epoch(student_train("none"))
    assert capsys.readouterr().out == "train: all 2 checks passed\n"


@pytest.mark.parametrize("mistake, message", [
    ("no model.train()", r"evaluation mode: call model\.train\(\) at the start of train"),
    ("no zero_grad", r"gradients added up from batch to batch.*optimizer\.zero_grad\(\)"),
    ("no step", r"the weights did not change.*optimizer\.step\(\)"),
    ("zero_grad between backward and step", r"the weights did not change.*not between it and the step"),
    ("summed loss", r"the step is 4 times too large.*mean cross-entropy"),
    ("sum of losses", r"returned the mean loss \d+\.\d+, a sum: divide by the number of images \(10\)"),
    ("mean of batch losses", r"the mean of the 3 batch losses.*loss\.item\(\) \* len\(y\)"),
    ("accuracy as count", r"returned the accuracy 6, the number of right predictions"),
    ("mean of batch accuracies", r"returned the accuracy 0\.5, the mean of the batch accuracies.*6/10 = 0\.6"),
    ("argmax dim=0", r"raised RuntimeError.*argmax taken over dim=1"),
    ("loss tensor", r"still holds the computation graph.*loss\.item\(\)"),
    ("len(data)", r"raised TypeError.*has no len\(\).*count the images as the loop goes"),
    ("forward under no_grad", r"without gradients \(under torch\.no_grad\(\)\)"),
    ("only the loss", r"return two numbers: \(mean loss, training accuracy\)"),
])
def test_train_wrong_answers(mistake: str, message: str) -> None:
    fails(check.train_epoch, student_train(mistake), message)


# ---------------------------------------------------------------- ch5-predict-evaluate: wrong answers


def student_get_prediction(mistake: str):
    def get_prediction(model, X):
        if mistake != "no eval":
            model.eval()
        if mistake == "no no_grad":
            logits = model(X)
        else:
            with torch.no_grad():
                logits = model(X)
        return {"argmax dim=0": lambda: logits.argmax(dim=0), ".max(dim=1)": lambda: logits.max(dim=1),
                "max values": lambda: logits.max(dim=1).values, "probabilities": lambda: logits.softmax(1),
                }.get(mistake, lambda: logits.argmax(dim=1))()

    return get_prediction


def test_a_correct_student_get_prediction_passes(capsys) -> None:
    check.get_prediction(student_get_prediction("none"))
    assert capsys.readouterr().out == "get_prediction: all 2 checks passed\n"


@pytest.mark.parametrize("mistake, message", [
    ("no eval", r"the model ran in training mode: call model\.eval\(\)"),
    ("no no_grad", r"gradients were tracked while predicting.*torch\.no_grad\(\)"),
    ("argmax dim=0", r"returned 3 values for 5 images: the argmax was taken over dim=0"),
    (".max(dim=1)", r"returned torch\.return_types\.max, expected a tensor.*take \.indices, or use argmax"),
    ("max values", r"returned floats.*argmax"),
    ("probabilities", r"returned shape \(5, 3\), expected \(5,\)"),
])
def test_get_prediction_wrong_answers(mistake: str, message: str) -> None:
    fails(check.get_prediction, student_get_prediction(mistake), message)


def student_evaluate(mistake: str):
    get_prediction = student_get_prediction("none")

    def evaluate(model, data):
        if mistake == "len(data)":
            len(data)
        correct, count, accs = 0, 0, []
        for X, y in data:
            if mistake == "own forward, no eval":
                with torch.no_grad():
                    pred = model(X).argmax(1)
            elif mistake == "own forward, no no_grad":
                model.eval()
                pred = model(X).argmax(1)
            else:
                pred = get_prediction(model, X)
            right = (pred == y).sum().item()
            correct, count = correct + right, count + len(y)
            accs.append(right / len(y))
        return {"count": correct, "mean of batch accuracies": sum(accs) / len(accs),
                "integer division": correct // count}.get(mistake, correct / count)

    return evaluate


def test_a_correct_student_evaluate_passes(capsys) -> None:
    check.evaluate(student_evaluate("none"))
    assert capsys.readouterr().out == "evaluate: all 2 checks passed\n"


@pytest.mark.parametrize("mistake, message", [
    ("count", r"it returned 6, the number of right predictions; divide by the number of images, 10"),
    ("mean of batch accuracies", r"it returned 0\.5, the mean of the batch accuracies.*6/10 = 0\.6"),
    ("integer division", r"it returned 0, expected 0\.6"),
    ("own forward, no eval", r"the model ran in training mode: call model\.eval\(\)"),
    ("own forward, no no_grad", r"gradients were tracked while predicting"),
    ("len(data)", r"evaluate on a generator of 3 batches.*raised TypeError.*count the images as the loop goes"),
])
def test_evaluate_wrong_answers(mistake: str, message: str) -> None:
    fails(check.evaluate, student_evaluate(mistake), message)


def test_a_wrong_get_prediction_fails_evaluate_too() -> None:
    # evaluate calls the notebook's get_prediction: a student sees its mistake again here.
    namespace = {"torch": torch, "get_prediction": student_get_prediction("argmax dim=0")}
    exec(compile("def evaluate(model, data):\n"
                 "    right = [(get_prediction(model, X) == y).sum().item() for X, y in data]\n"
                 "    return sum(right) / 10\n", "student", "exec"), namespace)
    fails(check.evaluate, namespace["evaluate"], r"raised RuntimeError.*argmax taken over dim=1")
