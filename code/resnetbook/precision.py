"""Mixed precision that suits the hardware at hand (chapter 5, stand-ins, benchmark).

- bfloat16 where the hardware computes it natively: CUDA GPUs from Ampere on, and CPUs
  with AMX (Intel's matrix tiles, Sapphire Rapids on). It keeps float32's exponent range,
  so no loss scaling. A CPU with AVX512-BF16 but no AMX only has bfloat16 dot products in
  its vector unit, and oneDNN's bfloat16 convolutions are slower there than float32
  (measured on a 2-core Xeon with AVX512-BF16, no AMX, one thread, channels_last, batch
  256: a 3x3 convolution of 64x28x28, forward and backward, 0.30 s in float32 and 0.67 s
  in bfloat16; chapter 5's training step 66 ms and 117 ms).
- float16 with a gradient scaler on other CUDA GPUs, such as Colab's free T4, which only
  *emulates* bfloat16 (slower than float32 there); small float16 gradients underflow
  to zero unless the loss is scaled up first (``torch.amp.GradScaler``).
- float32 everywhere else.

``RESNETBOOK_BF16=0`` or ``1`` overrides the bfloat16 check, e.g. to compare timings.
"""

from __future__ import annotations

import contextlib

import torch

from resnetbook import settings


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (not emulated); :func:`amp_dtype` applies the override."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    return cpu_has_amx()


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles, the only CPU feature that makes bfloat16 pay (see above).

    Not oneDNN's ``_is_mkldnn_bf16_supported()``: it answers yes on any AVX-512 CPU,
    where bfloat16 is emulated and 2-2.5 times slower than float32.
    """
    try:  # private in torch.cpu, so guarded
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``device``: bfloat16, float16 (CUDA only) or None (float32).

    ``RESNETBOOK_BF16`` (``resnetbook.settings``, validated there) overrides :func:`bf16_native`.
    """
    use_bf16 = settings.current().bf16
    if use_bf16 is None:
        use_bf16 = bf16_native(device)
    if use_bf16:
        return torch.bfloat16
    if device.type == "cuda":
        return torch.float16
    return None


def autocast(device: torch.device, enabled: bool = True):
    """Autocast to :func:`amp_dtype` on ``device`` when enabled, else a no-op context."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def needs_loss_scaling(device: torch.device, enabled: bool = True) -> bool:
    """Whether mixed precision on ``device`` runs in float16, whose small gradients underflow."""
    return enabled and amp_dtype(device) == torch.float16


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """A gradient scaler that is active only where autocast runs in float16.

    Disabled, ``scale(loss)`` returns the loss and ``step(optimizer)`` just steps,
    so training loops call it the same way on every device.
    """
    return torch.amp.GradScaler(device.type, enabled=needs_loss_scaling(device, enabled))
