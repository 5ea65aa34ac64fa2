"""Chapter 7's browser demo as a Gradio app, for Colab: an image in, the top 5 classes out.

``make_demo(pretrained, top_k)`` builds the app around the student's own ``top_k``
(chapter 7's exercise) and the model's own preprocessing; the chapter launches it only in
Colab (installing Gradio there when it is missing). The book build and the tests never start a server.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from resnetbook.weights import Pretrained

TopK = Callable[[torch.Tensor, list[str], int], list[tuple[str, float]]]


def predict(pretrained: Pretrained, top_k: TopK, image: np.ndarray, k: int = 5) -> dict[str, float]:
    """``{class: probability}`` of the ``k`` most probable classes for ``image`` (HxWx3 uint8)."""
    if image is None:
        raise ValueError("no image: upload or drop one first")
    with torch.no_grad():
        logits = pretrained.model.eval()(pretrained.preprocess(np.asarray(image, dtype=np.uint8))[None])[0]
    return {name: float(p) for name, p in top_k(logits, pretrained.categories, k)}


def make_demo(pretrained: Pretrained, top_k: TopK):
    """A ``gradio.Interface``: an image input, and a label with the top 5 classes and their probabilities."""
    import gradio as gr  # installed in Colab by the chapter's cell when missing; not in requirements.txt

    return gr.Interface(
        fn=lambda image: predict(pretrained, top_k, image),
        inputs=gr.Image(type="numpy", image_mode="RGB", label="your image"),
        outputs=gr.Label(num_top_classes=5, label="top 5"),
        title="The book's ResNet on your image",
        description=pretrained.provenance,
        flagging_mode="never",
    )
