"""Stand-in pretrained weights: ``fashion_resnet`` trained by this project on FashionMNIST.

Offline builds cannot download ImageNet or Places365 weights, so chapters 2-4
fall back to this network (through ``resnetbook.weights``). The weights and a
json describing them (recipe, seed, test accuracy, sha256, mean/std) are
committed next to this file; ``python -m resnetbook.standins`` retrains them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from resnetbook import data, models, training
from resnetbook.device import get_device, seed_everything
from resnetbook.download import file_digest

FOLDER = Path(__file__).resolve().parent
WEIGHTS_FILE = "fashion_resnet.pt"
META_FILE = "fashion_resnet.json"
SEED = 0

# The recipe: the whole 60k training set (no validation split: nothing is tuned
# on this run), crop + flip augmentation, one-cycle Nesterov SGD. No test-time
# flips, so the recorded accuracy is what a plain forward pass gives.
RECIPE = training.HParams(epochs=15, batch_size=256, lr=0.2, weight_decay=5e-4,
                          label_smoothing=0.1, crop_padding=2, flip=True, ema_decay=0.0,
                          tta=False, seed=SEED)


def train_standin(hp: training.HParams = RECIPE, progress: bool = True) -> tuple[nn.Module, dict]:
    """Train ``fashion_resnet`` with the engine; return the float32 CPU model and its json (stand-ins)."""
    seed_everything(hp.seed)
    splits = training.make_splits(data.load_fashion_mnist(), val_size=0, seed=hp.seed)
    model = models.fashion_resnet()
    start = time.perf_counter()
    model, history = training.fit(model, splits.X_train, splits.y_train, hp, progress=progress,
                                  desc="fashion_resnet")
    seconds = time.perf_counter() - start
    model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()
    test_acc = test_accuracy(model, splits.X_test.cpu(), splits.y_test.cpu())
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


def test_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Plain float32 top-1 accuracy on the test set (what the registry's model gives)."""
    return training.accuracy(model, X, y, tta=False, amp=False)


def save(model: nn.Module, meta: dict, folder: Path = FOLDER) -> Path:
    """Write the state_dict (float32) and the json with the file's sha256; return the json's path."""
    folder.mkdir(parents=True, exist_ok=True)
    weights_path = folder / meta["file"]
    tmp = weights_path.with_suffix(".pt.part")
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
    tmp.replace(weights_path)  # never leave a half-written checkpoint under the real name
    meta = {**meta, "sha256": file_digest(weights_path)}
    meta_path = folder / META_FILE
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta_path


def load(folder: Path = FOLDER) -> tuple[nn.Module, dict]:
    """The committed stand-in as a float32 model in eval mode, after checking its sha256."""
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    path = folder / meta["file"]
    if file_digest(path) != meta["sha256"]:
        raise RuntimeError(f"{path} does not match the sha256 in {META_FILE}; retrain with "
                           "`python -m resnetbook.standins`")
    model = models.fashion_resnet()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.float().eval(), meta


def main() -> None:
    """Retrain the stand-in, report its test accuracy, and write the weights and json (``make standins``)."""
    model, meta = train_standin()
    meta_path = save(model, meta)
    print(f"fashion_resnet: test accuracy {meta['test_accuracy']:.4f} after {meta['epochs']} epochs "
          f"in {meta['train_seconds']:.0f} s on {meta['device']}; wrote {meta_path}")
