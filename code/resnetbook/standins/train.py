"""Retrain the stand-in weights with the project's engine (``python -m resnetbook.standins``)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from resnetbook import data, models
from resnetbook.device import get_device, seed_everything
from resnetbook.engine import HParams, fit
from resnetbook import standins
from resnetbook.standins import FOLDER, META_FILE
from resnetbook.training import accuracy, make_splits

WEIGHTS_FILE = "fashion_resnet.pt"
SEED = 0

# The recipe: the whole 60k training set (no validation split: nothing is tuned
# on this run), crop + flip augmentation, one-cycle Nesterov SGD. No test-time
# flips, so the recorded accuracy is what a plain forward pass gives.
RECIPE = HParams(epochs=15, batch_size=256, lr=0.2, weight_decay=5e-4, label_smoothing=0.1,
                 crop_padding=2, flip=True, ema_decay=0.0, tta=False, seed=SEED)


def train_standin(hp: HParams = RECIPE, progress: bool = True) -> tuple[nn.Module, dict]:
    """Train ``fashion_resnet`` with the engine; return the float32 CPU model and its json."""
    seed_everything(hp.seed)
    splits = make_splits(data.load_fashion_mnist(), val_size=0, seed=hp.seed)
    start = time.perf_counter()
    model, history = fit(models.fashion_resnet(), splits.X_train, splits.y_train, hp, progress=progress,
                         desc="fashion_resnet")
    seconds = time.perf_counter() - start
    model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()
    # Plain float32 top-1, what the registry's model gives.
    test_acc = accuracy(model, splits.X_test.cpu(), splits.y_test.cpu(), tta=False, amp=False)
    meta = {
        "file": WEIGHTS_FILE, "sha256": None, "test_accuracy": round(test_acc, 4),
        "seed": hp.seed, "recipe": asdict(hp), "mean": splits.mean, "std": splits.std,
        "epochs": hp.epochs, "architecture": describe(model),
        "train_seconds": round(seconds, 1), "device": str(get_device()),
        "threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "final_train_loss": round(history.train_loss[-1], 4),
    }
    return model, meta


def describe(model: nn.Module) -> str:
    """One line naming the architecture and its size (recorded in the json)."""
    params = sum(p.numel() for p in model.parameters())
    return (f"resnetbook.models.fashion_resnet(): CIFAR-style ResNet-{models.FASHION_RESNET_DEPTH} "
            f"(torchvision BasicBlock, 16/32/64 channels, 1x28x28 input), {params} parameters")


def save(model: nn.Module, meta: dict, folder: Path = FOLDER) -> Path:
    """Write the weights and ``fashion_resnet.json`` (:func:`resnetbook.standins.save`); return the json's path."""
    return standins.save(model, meta, META_FILE, folder)


def main() -> None:
    """Retrain the stand-in, report its test accuracy, and write the weights and json (``make standins``)."""
    model, meta = train_standin()
    meta_path = save(model, meta)
    print(f"fashion_resnet: test accuracy {meta['test_accuracy']:.4f} after {meta['epochs']} epochs "
          f"in {meta['train_seconds']:.0f} s on {meta['device']}; wrote {meta_path}")
