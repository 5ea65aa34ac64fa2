"""Class activation maps (chapter 4, problem 3).

CAM (Zhou et al., 2016, "Learning Deep Features for Discriminative Localization")
applies the final ``fc`` layer at every location of the last conv stage instead of
after average pooling. Pooling is linear and ``fc`` is affine; an average's weights
sum to one, so averaging commutes with ``fc``, bias included. Zhou et al.'s maps have
no bias term; the maps here include ``fc``'s bias, so the mean of a class's map over
all locations is exactly that class's logit (the bias shifts a map by a constant and
leaves its min-max normalized picture unchanged).

The two steps a student writes, rearranging the features to one row per location and
applying ``fc`` to each row, live in the chapter (``features_to_hw_by_c``,
``class_scores_per_location``); this module captures the features and draws the maps.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from resnetbook.visualize import plot_map_over_image


class ActivationCapture:
    """Keep the output of one module during forward passes; release the hook on exit.

    Use as a context manager so the hook never outlives its use (a forgotten hook
    keeps tensors alive and changes nothing visible, which makes it hard to spot)::

        with ActivationCapture(model.layer4) as capture:
            logits = model(x)
        features = capture.activations  # (b, c, h, w)
    """

    def __init__(self, module: nn.Module) -> None:
        self.activations: Tensor | None = None
        self.handles = [module.register_forward_hook(self._save)]

    def _save(self, module: nn.Module, inputs: tuple, output: Tensor) -> None:
        self.activations = output.detach()

    def release(self) -> None:
        """Remove the hook; calling it twice is harmless."""
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def __enter__(self) -> ActivationCapture:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def last_conv_stage(model: nn.Module) -> nn.Module:
    """The child just before ``avgpool``: ``layer4`` of a ResNet-50, ``layer3`` of the stand-in (chapter 4)."""
    names = [name for name, _ in model.named_children()]
    if "avgpool" not in names or names.index("avgpool") == 0:
        raise ValueError(f"expected a ResNet-like model with a child 'avgpool' after the conv stages, "
                         f"got children {names}")
    return getattr(model, names[names.index("avgpool") - 1])


def scores_to_maps(scores: Tensor, h: int, w: int) -> Tensor:
    """Turn (h*w, classes) location scores into (classes, h, w) maps (chapter 4, problem 3b)."""
    if scores.dim() != 2 or scores.shape[0] != h * w:
        raise ValueError(f"expected ({h * w}, classes) scores, got {tuple(scores.shape)}")
    return scores.unflatten(0, (h, w)).permute(2, 0, 1)


def last_stage_features(model: nn.Module, x: Tensor, target: nn.Module | None = None) -> tuple[Tensor, Tensor]:
    """One pass of ``model`` on one image ``x`` (c, H, W) (chapter 4, problem 3).

    Returns the output of ``target`` (default: the last conv stage), (1, c, h, w),
    captured with a forward hook, and the model's logits, (classes,).
    """
    if x.dim() != 3:
        raise ValueError(f"expected one image (c, H, W), got {tuple(x.shape)}")
    target = last_conv_stage(model) if target is None else target
    with torch.no_grad(), ActivationCapture(target) as capture:
        logits = model(x[None])[0]
    return capture.activations, logits


def plot_top_cams(axes: list[plt.Axes], image: np.ndarray, maps: Tensor, logits: Tensor,
                  categories: list[str], fontsize: float = 12) -> list[int]:
    """Overlay the class maps (classes, h, w) of the ``len(axes)`` most probable classes on ``image`` (chapter 4, problem 3c).

    Returns the class indices shown, most probable first.
    """
    probs = logits.softmax(-1)
    top = probs.topk(len(axes)).indices.tolist()
    for ax, k in zip(axes, top):
        plot_map_over_image(ax, image, maps[k].detach().cpu(), f"{categories[k]}\np={probs[k]:.3g}", fontsize=fontsize)
    return top
