"""Where tensors live and how runs are made repeatable (all chapters)."""

from __future__ import annotations

import random

import numpy as np
import torch

from resnetbook import settings


def get_device() -> torch.device:
    """Return CUDA when a GPU is present, else the CPU (all chapters).

    ``RESNETBOOK_DEVICE=cpu`` forces the CPU, e.g. to compare timings.
    """
    forced = settings.current().device
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch once per chapter; return a torch generator.

    The returned generator is for code that wants its own random stream
    (shuffling, augmentation) independent of what else the chapter draws.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every device, CUDA included
    return torch.Generator().manual_seed(seed)
