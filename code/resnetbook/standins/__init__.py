"""Stand-in pretrained weights, trained by this project: ``fashion_resnet`` and ``fashion_detector``.

Offline builds cannot download ImageNet or Places365 weights, so chapters 2-4
fall back to ``fashion_resnet``, a classifier trained on FashionMNIST (through
``resnetbook.weights``); chapter 7 falls back from torchvision's COCO detectors to
``fashion_detector``, trained on synthetic scenes of FashionMNIST items
(``resnetbook.detection``). The weights and a json describing each (recipe, seed,
measured quality, sha256) are committed next to this file;
``python -m resnetbook.standins [classifier|detector|all]`` retrains them
(:mod:`resnetbook.standins.train`, :mod:`resnetbook.standins.detector`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from resnetbook.download import file_digest, safe_load_checkpoint

FOLDER = Path(__file__).resolve().parent
META_FILE = "fashion_resnet.json"
RETRAIN = "train them with `python -m resnetbook.standins` (or `make standins`)"


class StandinError(RuntimeError):
    """The stand-in weights are missing, altered, or do not fit their model."""


def read_meta(folder: Path = FOLDER, meta_file: str = META_FILE) -> dict:
    """The stand-in's json: its weights file, sha256, recipe, seed, accuracy, mean/std (chapters 2-4)."""
    path = folder / meta_file
    if not path.is_file():
        raise StandinError(f"The stand-in weights' description {path} is missing; {RETRAIN}.")
    return json.loads(path.read_text(encoding="utf-8"))


def load_model(build: Callable[[], nn.Module], meta: dict, folder: Path = FOLDER) -> nn.Module:
    """``build()`` with the weights ``meta`` names, in eval mode, after checking their sha256."""
    path = folder / meta["file"]
    if not path.is_file():
        raise StandinError(f"The stand-in weights {path} are missing; {RETRAIN}.")
    digest = file_digest(path)
    if digest != meta["sha256"]:
        raise StandinError(f"{path} has sha256 {digest}, but its json records {meta['sha256']}: "
                           "the file was altered; retrain or restore it.")
    model = build()
    model.load_state_dict(safe_load_checkpoint(path))
    return model.eval()


def save(model: nn.Module, meta: dict, meta_file: str, folder: Path = FOLDER) -> Path:
    """Write ``model``'s state_dict (float32) and ``meta`` with the file's sha256 as ``meta_file``; return its path.

    Both stand-ins' trainers save this way (``make standins``). An interrupted write leaves a
    file that no longer matches the old json's sha256, which :func:`load_model` refuses.
    """
    folder.mkdir(parents=True, exist_ok=True)
    weights_path = folder / meta["file"]
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, weights_path)
    meta_path = folder / meta_file
    meta_path.write_text(json.dumps({**meta, "sha256": file_digest(weights_path)}, indent=2) + "\n",
                         encoding="utf-8")
    return meta_path
