"""resnetbook.gradio_app: the Colab app's prediction, and the Interface it builds.

Gradio is not in requirements.txt (367 MB and 25 s to install; the chapter's Colab cell
installs it when missing), so the Interface is built against a recording stand-in for the ``gradio`` module; with gradio
installed, the real one is built too.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from resnetbook import data, gradio_app, weights


def top_k(logits, categories, k=5):
    p = torch.softmax(logits, 0)
    values, indices = p.topk(k)
    return [(categories[i], v) for i, v in zip(indices.tolist(), values.tolist())]


@pytest.fixture(scope="module")
def standin():
    return weights.load(weights.STANDIN)


def test_predict_gives_the_top5_of_pytorch(standin):
    photo = data.sample_images()["cat"]
    got = gradio_app.predict(standin, top_k, photo)
    with torch.no_grad():
        want = torch.softmax(standin.model(standin.preprocess(photo)[None])[0], 0)
    assert len(got) == 5 and list(got) == [standin.categories[i] for i in want.topk(5).indices]
    assert all(abs(got[standin.categories[i]] - want[i].item()) < 1e-6 for i in want.topk(5).indices)


def test_predict_without_an_image_says_so(standin):
    with pytest.raises(ValueError, match="no image"):
        gradio_app.predict(standin, top_k, None)


def test_make_demo_builds_an_image_to_label_interface(standin, monkeypatch):
    made = {}
    fake = types.SimpleNamespace(
        Image=lambda **kw: ("Image", kw), Label=lambda **kw: ("Label", kw),
        Interface=lambda **kw: made.update(kw) or "interface")
    monkeypatch.setitem(sys.modules, "gradio", fake)
    assert gradio_app.make_demo(standin, top_k) == "interface"
    assert made["inputs"][0] == "Image" and made["outputs"] == ("Label", {"num_top_classes": 5, "label": "top 5"})
    result = made["fn"](np.zeros((40, 30, 3), dtype=np.uint8))
    assert len(result) == 5 and abs(sum(result.values()) - 1) < 0.5


def test_make_demo_with_the_real_gradio(standin):
    pytest.importorskip("gradio", reason="gradio is not installed (not in requirements.txt; Colab's cell installs it)")
    demo = gradio_app.make_demo(standin, top_k)
    assert type(demo).__name__ == "Interface"
