"""Mixed precision follows the hardware (resnetbook.precision; chapter 5 on Colab's GPU).

No GPU is needed: CUDA's answers are faked with monkeypatch, so the choice made for a
T4 (bfloat16 only emulated) and for an A100/H100 (native) is checked on any machine.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnetbook import engine, precision

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def gpu(monkeypatch):
    """Pretend to be a CUDA GPU; ``gpu(native_bf16)`` sets what it computes natively."""
    monkeypatch.delenv("RESNETBOOK_BF16", raising=False)

    def set_native(native: bool) -> None:
        def is_bf16_supported(including_emulation: bool = True) -> bool:
            return native or including_emulation  # a T4 emulates bf16: True only with emulation

        monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)

    return set_native


def test_a_gpu_with_native_bf16_gets_bf16_and_no_scaler(gpu):
    gpu(True)
    assert precision.amp_dtype(CUDA) is torch.bfloat16
    assert not precision.needs_loss_scaling(CUDA)


def test_a_t4_gets_float16_with_a_gradient_scaler(gpu):
    gpu(False)  # Colab's T4: bf16 only emulated
    assert precision.amp_dtype(CUDA) is torch.float16
    assert precision.needs_loss_scaling(CUDA)
    assert not precision.needs_loss_scaling(CUDA, enabled=False)


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to be a CPU; ``cpu(amx=..., avx512_bf16=...)`` sets the instructions it has."""
    monkeypatch.delenv("RESNETBOOK_BF16", raising=False)

    def set_features(amx: bool, avx512_bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)

    return set_features


def test_a_cpu_with_amx_gets_bf16(cpu):
    cpu(amx=True)
    assert precision.bf16_native(CPU)
    assert precision.amp_dtype(CPU) is torch.bfloat16
    assert not precision.needs_loss_scaling(CPU)


@pytest.mark.parametrize("avx512_bf16", [True, False])
def test_a_cpu_without_amx_trains_in_float32(cpu, avx512_bf16):
    # oneDNN says bf16 is supported on any AVX-512 CPU; without AMX it is slower than float32.
    cpu(amx=False, avx512_bf16=avx512_bf16)
    assert not precision.bf16_native(CPU)
    assert precision.amp_dtype(CPU) is None
    assert isinstance(precision.autocast(CPU), type(precision.autocast(CPU, enabled=False)))


def test_a_torch_without_the_amx_query_means_float32(cpu, monkeypatch):
    cpu(amx=True)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert not precision.bf16_native(CPU)


@pytest.mark.parametrize("amx", [True, False])
def test_the_environment_overrides_the_cpu(cpu, monkeypatch, amx):
    cpu(amx=amx)
    monkeypatch.setenv("RESNETBOOK_BF16", "0" if amx else "1")
    assert precision.bf16_native(CPU) is amx  # what the CPU has ...
    assert (precision.amp_dtype(CPU) is torch.bfloat16) is (not amx)  # ... and what the setting makes of it


def test_the_cpu_never_gets_float16(monkeypatch):
    monkeypatch.setenv("RESNETBOOK_BF16", "0")
    assert precision.amp_dtype(CPU) is None
    assert not precision.grad_scaler(CPU).is_enabled()
    assert isinstance(precision.autocast(CPU), type(precision.autocast(CPU, enabled=False)))
    monkeypatch.setenv("RESNETBOOK_BF16", "1")
    assert precision.amp_dtype(CPU) is torch.bfloat16


@pytest.mark.parametrize("forced", ["0", "1"])
def test_engine_trains_with_either_cpu_precision(monkeypatch, forced):
    monkeypatch.setenv("RESNETBOOK_BF16", forced)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    X, y = torch.randn(32, 1, 2, 2), torch.randint(0, 3, (32,))
    before = [p.detach().clone() for p in model.parameters()]
    hp = engine.HParams(epochs=1, batch_size=16, amp=True, crop_padding=0, channels_last=False)
    trained, history = engine.fit(model, X, y, hp, X, y, progress=False)
    assert history.train_loss[-1] > 0 and 0 <= history.val_acc[-1] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, trained.parameters()))
