"""The one training step (resnetbook.trainer): its precision policy, device rule and order of operations.

No GPU is needed: a float16 device is simulated with CUDA's answers faked (Colab's T4) and
with CPU autocast in float16, which PyTorch supports, so the loss scaling is exercised for real.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnetbook import degradation, device, precision, trainer
from resnetbook.trainer import Trainer

PACKAGE = Path(trainer.__file__).parent


def package_files_containing(pattern: str) -> set[str]:
    """The package's modules (outside check/) whose code matches ``pattern``."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)  # the clone's own folders may be named "check"
        if relative.parts[0] != "check" and re.search(pattern, path.read_text(encoding="utf-8")):
            found.add(str(relative))
    return found


def test_one_module_of_the_package_calls_backward():
    assert package_files_containing(r"\.backward\(") == {"trainer.py"}


def test_one_module_reads_the_environment():
    assert package_files_containing(r"os\.environ|os\.getenv") == {"settings.py"}


@pytest.fixture
def t4(monkeypatch):
    """CUDA's answers as Colab's T4 gives them: a GPU, bfloat16 only emulated."""
    monkeypatch.delenv("RESNETBOOK_BF16", raising=False)
    monkeypatch.delenv("RESNETBOOK_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)


@pytest.fixture
def float16_cpu(monkeypatch):
    """The CPU answering what the policy answers for a T4, so the float16 path runs on the CPU."""
    monkeypatch.setattr(precision, "amp_dtype", lambda dev: torch.float16)


def test_a_t4_trains_every_loop_in_float16_with_a_scaler(t4):
    gpu = device.get_device()
    assert gpu.type == "cuda"
    assert precision.amp_dtype(gpu) is torch.float16 and precision.grad_scaler(gpu).is_enabled()


def test_degradation_on_a_float16_device_scales_the_loss(float16_cpu, monkeypatch):
    scales, casts = [], []
    real_scale, real_autocast = torch.amp.GradScaler.scale, torch.autocast.__init__

    def scale(self, loss):
        scales.append(self.get_scale())
        return real_scale(self, loss)

    def autocast(self, device_type, dtype=None, *args, **kwargs):
        casts.append(dtype)
        real_autocast(self, device_type, dtype, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "scale", scale)
    monkeypatch.setattr(torch.autocast, "__init__", autocast)
    torch.manual_seed(0)
    X, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    recipe = degradation.Recipe(depths=(8,), widths=(4, 4, 4), pool=1, steps=10, batch_size=16)
    model = degradation.build(8, False, recipe.widths)
    curve = degradation.train_curve(model, X, y, recipe)
    assert len(curve.errors) == 10
    assert len(scales) == 10 and min(scales) > 1  # every loss scaled up (65536 at first)
    assert casts and set(casts) == {torch.float16}
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_float32_steps_equal_a_plain_loop(monkeypatch):
    monkeypatch.setenv("RESNETBOOK_BF16", "0")
    monkeypatch.setenv("RESNETBOOK_DEVICE", "cpu")
    X, y = torch.randn(32, 6), torch.randint(0, 3, (32,))

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    reference, optimizer = fresh()
    for xb, yb in zip(X.split(8), y.split(8)):
        loss = F.cross_entropy(reference(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model, optimizer = fresh()
    steps = Trainer(model, optimizer)
    for xb, yb in zip(X.split(8), y.split(8)):
        steps.step(xb, yb)
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), model.parameters()))
    assert steps.steps == 4 and not steps.scaler.is_enabled()


def test_clipping_hooks_and_scheduler_run_in_order(float16_cpu):
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** step)
    seen = []

    def hook(t: Trainer) -> None:
        grad_norm = torch.cat([p.grad.flatten() for p in t.model.parameters()]).norm()
        seen.append((t.steps, round(grad_norm.item(), 4), optimizer.param_groups[0]["lr"]))

    steps = Trainer(model, optimizer, scheduler, device="cpu", clip_grad_norm=0.01, hooks=[hook])
    assert steps.scaler.is_enabled()  # float16: the clip must see unscaled gradients
    steps.step(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    steps.step(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    assert seen == [(1, 0.01, 0.5), (2, 0.01, 0.25)]


def test_the_model_and_every_batch_go_to_the_device(monkeypatch):
    monkeypatch.setenv("RESNETBOOK_DEVICE", "cpu")
    seen = []

    def criterion(model, inputs, targets):
        seen.append({inputs[0].device.type, targets["y"].device.type})
        return None, model(inputs[0]).sum() * 0 + F.cross_entropy(model(inputs[0]), targets["y"])

    steps = Trainer(nn.Linear(3, 2), torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1),
                    criterion=criterion)
    assert steps.device == torch.device("cpu")
    steps.step([torch.randn(4, 3)], {"y": torch.tensor([0, 1, 0, 1])})
    assert seen == [{"cpu"}]
    assert trainer.to_device((torch.ones(1), [torch.ones(1)], {"a": 1}), torch.device("cpu"))[2] == {"a": 1}
