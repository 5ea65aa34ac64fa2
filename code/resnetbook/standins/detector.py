"""Retrain the stand-in detector ``fashion_detector`` (``python -m resnetbook.standins detector``) (chapter 7).

torchvision's FCOS on a small ResNet backbone (:func:`resnetbook.detection.fashion_detector`),
trained on fresh synthetic scenes of FashionMNIST *training* images every step
(:mod:`resnetbook.scenes`), then measured on scenes of the *test* images: precision and
recall at IoU 0.5 for the detections scoring at least 0.5. The weights and a json with
the recipe, seed, sha256, the measured quality and the training time are written next
to this file.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from resnetbook import data, detection, scenes
from resnetbook.device import get_device, seed_everything
from resnetbook.progress import bar
from resnetbook import standins
from resnetbook.standins import FOLDER
from resnetbook.trainer import Trainer

WEIGHTS_FILE = "fashion_detector.pt"


@dataclass(frozen=True)
class HParams:
    """How the stand-in detector is trained and measured (recorded in its json as ``recipe``)."""

    steps: int = 1500
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    clip_grad_norm: float = 10.0
    seed: int = 0
    held_out_scenes: int = 500
    score_threshold: float = 0.5
    iou_threshold: float = 0.5
    # The committed weights were trained in float32; mixed precision (resnetbook.precision)
    # would change them, and FCOS's box regression has not been measured in float16.
    amp: bool = False


def _schedule(hp: HParams):
    """Linear warm-up, then a cosine decay to zero (a multiplier of ``lr`` per step)."""
    def factor(step: int) -> float:
        if step < hp.warmup_steps:
            return (step + 1) / hp.warmup_steps
        done = (step - hp.warmup_steps) / max(1, hp.steps - hp.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
    return factor


def _detection_loss(model: nn.Module, inputs: list, targets: list) -> tuple[None, torch.Tensor]:
    """FCOS in training mode returns its losses; the step minimizes their sum."""
    return None, sum(model(inputs, targets).values())


def train(hp: HParams = HParams(), progress: bool = True) -> tuple[nn.Module, float, float]:
    """Train ``fashion_detector`` on fresh scenes; return the CPU model, its last loss and the seconds taken."""
    seed_everything(hp.seed)
    fashion = data.load_fashion_mnist()
    model = detection.fashion_detector()
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    trainer = Trainer(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(hp)),
                      criterion=_detection_loss, amp=hp.amp, clip_grad_norm=hp.clip_grad_norm)
    model.train()
    stream = scenes.batches(fashion.train_images, fashion.train_labels, hp.batch_size, hp.seed)
    start, loss = time.perf_counter(), torch.tensor(float("nan"))
    for _ in bar(range(hp.steps), desc="fashion_detector", disable=not progress):
        _, loss = trainer.step(*next(stream))
    seconds = time.perf_counter() - start
    return model.to("cpu").eval(), float(loss.detach()), seconds


def measure(model: nn.Module, hp: HParams = HParams()) -> detection.Quality:
    """Precision and recall of ``model`` on the held-out scenes the chapter uses (chapter 7)."""
    held_out = detection.held_out_scenes(hp.held_out_scenes)
    found = detection.detect(model, [scene.input() for scene in held_out])
    return detection.precision_recall(found, [scene.target() for scene in held_out],
                                      hp.score_threshold, hp.iou_threshold)


def train_standin(hp: HParams = HParams(), progress: bool = True) -> tuple[nn.Module, dict]:
    """Train and measure the stand-in detector; return the model and its json (without the sha256)."""
    model, last_loss, seconds = train(hp, progress)
    quality = measure(model, hp)
    meta = {
        "file": WEIGHTS_FILE, "sha256": None,
        "precision": round(quality.precision, 4), "recall": round(quality.recall, 4),
        "true_positives": quality.true_positives, "detections": quality.detections, "objects": quality.objects,
        "iou_threshold": hp.iou_threshold, "score_threshold": hp.score_threshold,
        "held_out_scenes": hp.held_out_scenes, "held_out_seed": detection.HELD_OUT_SEED,
        "scenes": asdict(scenes.SceneConfig()), "seed": hp.seed, "steps": hp.steps,
        "recipe": asdict(hp), "architecture": describe(model),
        "train_seconds": round(seconds, 1), "device": str(get_device()), "threads": torch.get_num_threads(),
        "torch_version": torch.__version__, "final_train_loss": round(last_loss, 4),
    }
    return model, meta


def describe(model: nn.Module) -> str:
    """One line naming the architecture and its size (recorded in the json)."""
    params = sum(p.numel() for p in model.parameters())
    return ("resnetbook.detection.fashion_detector(): torchvision FCOS, one feature level at stride 8, "
            "on resnetbook.detection.Backbone (torchvision BasicBlock, conv1 + layer1-layer3, 16/32/64 channels), "
            f"head of 2 convolutions per branch, 3x96x96 input, {params} parameters")


def save(model: nn.Module, meta: dict, folder: Path = FOLDER) -> Path:
    """Write the weights and the detector's json (:func:`resnetbook.standins.save`); return the json's path."""
    return standins.save(model, meta, detection.STANDIN_META, folder)


def main() -> None:
    """Retrain the stand-in detector, report its quality, write the weights and json (``make standins``)."""
    model, meta = train_standin()
    meta_path = save(model, meta)
    print(f"fashion_detector: precision {meta['precision']:.3f}, recall {meta['recall']:.3f} at IoU "
          f"{meta['iou_threshold']} on {meta['held_out_scenes']} held-out scenes, after {meta['steps']} steps "
          f"in {meta['train_seconds']:.0f} s on {meta['device']}; wrote {meta_path}")
