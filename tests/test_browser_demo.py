"""Chapter 7's ResNet in the reader's browser (the built site, headless Chromium).

- An image file set on the page's input gives the top 5 that PyTorch gives for the same file
  and the same weights: the same classes, probabilities within 1e-3 (for a quantized model,
  the reference is onnxruntime on the same 8-bit file, since 8 bits alone move probabilities
  by more). One image needs no resizing, one does.
- Every request the page makes goes to the site's own origin; no JavaScript error.
- The page's preprocessing equals the chapter's for both kinds of weights (the stand-in's,
  and ImageNet's, which offline builds never serve), on a photo.
- Without JavaScript, or without WebAssembly, the page still shows the build's table.
- By keyboard alone: Tab reaches the file input (the drop zone is not a tab stop), Space opens
  the file picker, and the picture of what the network sees has a text alternative.

Model load and inference times measured here go to ``_build/screenshots/browser-demo-<example>.json``
(one file per example: the tests may run in two processes at once).
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnetbook import data, onnx_export, weights
from support import SCREENSHOTS

PAGE = "book/07_detection_browser.html"
DEMO = "_static/resnet-demo"
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def config(site: Path) -> dict:
    path = site / DEMO / onnx_export.CONFIG_FILE
    assert path.is_file(), f"the site has no {DEMO}/{onnx_export.CONFIG_FILE}: book/_ext/browser_demo did not run"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def pretrained(config: dict) -> weights.Pretrained:
    """The weights the site was built with (checked by their key), loaded in PyTorch."""
    mode = "standin" if config["weights"] == weights.STANDIN else "pretrained"
    loaded = weights.load(config["weights"] if mode == "standin" else "resnet18_imagenet", mode=mode)
    assert onnx_export.weights_key(loaded) == config["key"], "the site was exported from other weights"
    return loaded


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def reference_top5(pretrained: weights.Pretrained, config: dict, site: Path, path: Path) -> list[tuple[str, float]]:
    """PyTorch's top 5 for the image file ``path`` (onnxruntime's on the served file when it is 8-bit)."""
    with Image.open(path) as image:
        x = pretrained.preprocess(np.array(image))
    if config["quantized"]:
        logits = torch.from_numpy(onnx_export.onnx_logits(site / DEMO / config["model"], x[None]))[0]
    else:
        with torch.no_grad():
            logits = pretrained.model.eval()(x[None])[0]
    probs = torch.softmax(logits.double(), dim=0)
    values, indices = probs.topk(5)
    return [(pretrained.categories[i], p) for i, p in zip(indices.tolist(), values.tolist())]


def open_page(browser, base_url: str, **context_options):
    """A fresh page of the chapter, recording requests and errors, blocking any other host."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options)
    page = context.new_page()
    seen = {"requests": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("pageerror", lambda exc: seen["errors"].append(f"uncaught: {exc}"))
    page.on("console", lambda msg: seen["errors"].append(f"console: {msg.text}") if msg.type == "error" else None)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base_url + "/")
               else route.abort())
    page.goto(f"{base_url}/{PAGE}", wait_until="load")
    return context, page, seen


def page_top5(page) -> list[tuple[str, float]]:
    rows = page.eval_on_selector_all(
        "#resnet-demo tr.resnet-demo-row",
        "rows => rows.map(r => [r.querySelector('.resnet-demo-class').textContent, Number(r.dataset.probability)])")
    return [(name, p) for name, p in rows]


@pytest.fixture(scope="module")
def example_file(tmp_path_factory, pretrained) -> Path:
    path = tmp_path_factory.mktemp("demo") / "example.png"
    path.write_bytes(png_bytes(pretrained.examples(1)[0].image))
    return path


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "cat.png"
    path.write_bytes(png_bytes(data.sample_images()["cat"]))
    return path


@pytest.mark.parametrize("which", ["example_file", "photo_file"])
def test_page_top5_equals_pytorch_top5(browser, base_url, site, config, pretrained, request, which):
    path = request.getfixturevalue(which)
    context, page, seen = open_page(browser, base_url)
    try:
        page.set_input_files("#resnet-demo input[type=file]", str(path))
        page.wait_for_selector("#resnet-demo[data-state=done]", timeout=60_000)
        got, timing = page_top5(page), page.evaluate("() => ({...document.getElementById('resnet-demo').dataset})")
        status = page.text_content(".resnet-demo-status")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#resnet-demo").screenshot(path=str(SCREENSHOTS / f"browser-demo-{path.stem}.png"))
    finally:
        context.close()
    want = reference_top5(pretrained, config, site, path)
    assert [name for name, _ in got] == [name for name, _ in want], (got, want)
    assert all(math.isclose(p, q, abs_tol=TOLERANCE) for (_, p), (_, q) in zip(got, want)), (got, want)
    assert seen["errors"] == []
    assert f"{config['model_bytes'] / 1e6:.2f} MB" in status and "loaded in" in status, status
    times = {"example": path.name, "load_ms": float(timing["loadMs"]), "inference_ms": float(timing["inferenceMs"]),
             "max_prob_diff": max(abs(p - q) for (_, p), (_, q) in zip(got, want))}
    (SCREENSHOTS / f"browser-demo-{path.stem}.json").write_text(json.dumps(times, indent=1))


def test_the_demo_is_operated_by_keyboard(browser, base_url, config, example_file):
    # Tab from the demo's start reaches the file input (the drop zone is no dead stop), Space
    # opens the file picker, and the picture of what the network sees gets a text alternative.
    context, page, seen = open_page(browser, base_url)
    try:
        page.wait_for_selector("#resnet-demo input[type=file]", state="attached", timeout=60_000)  # the demo is built
        # Playwright intercepts file pickers from its first "filechooser" listener on, asynchronously:
        # listen from the start, so that the picker Space opens below is not missed
        page.on("filechooser", lambda chooser: None)
        page.evaluate("""() => { const s = document.createElement('button'); s.id = 'before-demo'; s.textContent = 'start';
                                 document.getElementById('resnet-demo').before(s); s.focus(); }""")
        stops = []
        for _ in range(3):  # the tab stops inside the demo, in order
            page.keyboard.press("Tab")
            inside = page.evaluate("() => document.getElementById('resnet-demo').contains(document.activeElement)")
            if not inside:
                break
            stops.append(page.evaluate("() => document.activeElement.outerHTML.slice(0, 60)"))
        assert len(stops) == 1 and stops[0].startswith('<input type="file"'), stops
        # the demo loads its model when it scrolls into view: choose a file once it is ready, as its status asks
        page.wait_for_selector("#resnet-demo[data-state=ready]", timeout=60_000)
        page.evaluate("() => document.getElementById('before-demo').focus()")
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.type") == "file"
        with page.expect_file_chooser(timeout=60_000) as chooser:
            page.keyboard.press(" ")  # Space, as on any button (Chromium's file input ignores Enter)
        chooser.value.set_files(str(example_file))
        page.wait_for_selector("#resnet-demo[data-state=done]", timeout=60_000)
        label = page.get_attribute("#resnet-demo canvas.resnet-demo-seen", "aria-label")
        role = page.get_attribute("#resnet-demo canvas.resnet-demo-seen", "role")
    finally:
        context.close()
    assert seen["errors"] == []
    assert role == "img"
    _, c, h, w = config["input"]["shape"]
    assert label.startswith("What the network sees") and f"{w} by {h} pixels" in label, label
    assert ("grey" in label) == (c == 1), label


def test_every_request_goes_to_the_sites_own_origin(browser, base_url, example_file):
    context, page, seen = open_page(browser, base_url)
    try:
        page.set_input_files("#resnet-demo input[type=file]", str(example_file))
        page.wait_for_selector("#resnet-demo[data-state=done]", timeout=60_000)
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert any(url.endswith(".wasm") for url in seen["requests"]), "the demo ran without loading WebAssembly?"
    assert any(url.endswith(".onnx") for url in seen["requests"])
    foreign = [url for url in seen["requests"] if not url.startswith(base_url + "/")]
    assert foreign == []


def test_served_files_are_only_what_the_demo_uses(site, config):
    names = sorted(p.name for p in (site / DEMO).iterdir())
    assert not [n for n in names if "jsep" in n or "webgpu" in n or "asyncify" in n or n.endswith(".map")], names
    assert config["model"] in names and sum(n.endswith(".onnx") for n in names) == 1


def _in_page_preprocess(page, image: np.ndarray, spec: dict) -> torch.Tensor:
    encoded = base64.b64encode(png_bytes(image)).decode()
    values = page.evaluate("""async ([encoded, spec]) => {
        const bytes = Uint8Array.from(atob(encoded), c => c.charCodeAt(0));
        const bitmap = await createImageBitmap(new Blob([bytes], {type: 'image/png'}),
                                               {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height), ctx = canvas.getContext('2d');
        ctx.drawImage(bitmap, 0, 0);
        return Array.from(window.resnetDemo.preprocess(ctx.getImageData(0, 0, bitmap.width, bitmap.height), spec));
    }""", [encoded, spec])
    return torch.tensor(values)


def test_page_preprocessing_equals_the_chapters(browser, base_url):
    """Both kinds of weights, whatever the site serves: the stand-in's and ImageNet's preprocessing."""
    photo = data.sample_images()["coffee"]  # 400 x 600: resized by both
    standin = weights.load(weights.STANDIN)
    imagenet_spec = onnx_export.preprocessing_spec("resnet18_imagenet")
    imagenet = weights.default_registry()["resnet18_imagenet"].preprocess
    context, page, _ = open_page(browser, base_url)
    try:
        page.wait_for_function("() => window.resnetDemo !== undefined")
        gray = _in_page_preprocess(page, photo, onnx_export.preprocessing_spec(standin.name))
        rgb = _in_page_preprocess(page, photo, imagenet_spec)
    finally:
        context.close()
    assert (gray - standin.preprocess(photo).flatten()).abs().max() < 1e-4
    diff = (rgb - imagenet(photo).flatten()).abs()
    one_level = 1 / 255 / min(imagenet_spec["std"])
    assert diff.max() <= one_level + 1e-4, "at most one level of 255 apart (a float rounded the other way)"
    assert (diff > 1e-4).float().mean() < 1e-3, "and very rarely"


def test_without_javascript_the_build_table_remains(browser, base_url, pretrained):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/{PAGE}", wait_until="load")
        rows = page.eval_on_selector_all(".resnet-demo-fallback tbody tr", "rows => rows.map(r => r.cells[0].textContent)")
        notice = page.text_content("#resnet-demo")
        inputs = page.locator("#resnet-demo input").count()
    finally:
        context.close()
    example = pretrained.examples(1)[0]
    with torch.no_grad():
        want = torch.softmax(pretrained.model(example.input[None])[0], 0).topk(5).indices.tolist()
    assert rows == [pretrained.categories[i] for i in want]
    assert "needs JavaScript" in notice and inputs == 0


def test_without_webassembly_the_page_says_so(browser, base_url):
    context = browser.new_context()
    context.add_init_script("delete window.WebAssembly;")
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(f"{base_url}/{PAGE}", wait_until="load")
        page.wait_for_selector("#resnet-demo[data-state=error]")
        status = page.text_content(".resnet-demo-status")
        fallback = page.locator(".resnet-demo-fallback tbody tr").count()
    finally:
        context.close()
    assert "no WebAssembly" in status and fallback == 5
    assert not [url for url in requests if url.endswith((".wasm", ".onnx"))]
