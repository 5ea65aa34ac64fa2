"""Chapter 7's ResNet in the reader's browser: the model and ONNX Runtime Web, served by the site (the book build).

When the HTML build finishes, this extension

- exports the book's ResNet (``weights.load("resnet18_imagenet")``: the stand-in offline)
  to ONNX with :func:`resnetbook.onnx_export.export_for_browser`, into a cache under
  ``_build/.browser_demo`` that is reused while the weights stay the same: the page gets its
  model even when the chapter's execution came from Jupyter Book's cache;
- copies into ``_static/resnet-demo/`` the exported model and its json, this folder's
  ``static/`` files (the page's script and style), and the three files of ONNX Runtime Web
  it uses (the npm package ``onnxruntime-web`` that ``make setup`` installs from
  package-lock.json): the script of its WebAssembly build, and the single-threaded-capable
  SIMD WebAssembly module with its loader. Not its WebGPU, WebGL or JSEP builds.

Pages whose source holds ``<div id="resnet-demo">`` get the script and the style.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

STATIC = Path(__file__).parent / "static"
TARGET = "resnet-demo"  # under _static
PLACEHOLDER = 'id="resnet-demo"'
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
WEIGHTS = "resnet18_imagenet"
log = logging.getLogger(__name__)


def ort_dist(root: Path) -> Path:
    """onnxruntime-web's ``dist`` folder under ``root/node_modules``, or an error saying how to install it."""
    dist = root / "node_modules" / "onnxruntime-web" / "dist"
    missing = [name for name in ORT_FILES if not (dist / name).is_file()]
    if missing:
        raise ExtensionError(f"onnxruntime-web is not installed ({dist / missing[0]} is missing): "
                             "run `make setup` (npm ci), which installs it from package-lock.json")
    return dist


def export_model(cache: Path):
    """The ONNX export of the book's ResNet for this build's weights (reused from ``cache``)."""
    from resnetbook import onnx_export, weights

    return onnx_export.export_for_browser(weights.load(WEIGHTS, progress=False), cache)


def copy_site_files(root: Path, cache: Path, target: Path) -> list[Path]:
    """Put the model, its json, the page's files and ONNX Runtime Web's into ``target``; returns them."""
    dist, model = ort_dist(root), export_model(cache)
    target.mkdir(parents=True, exist_ok=True)
    sources = [dist / name for name in ORT_FILES] + sorted(STATIC.iterdir())
    sources += [model.folder / model.served, model.folder / "resnet-demo.json"]
    for source in sources:
        shutil.copy2(source, target / source.name)
    return [target / source.name for source in sources]


def _copy(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    root = Path(app.srcdir)
    files = copy_site_files(root, root / "_build" / ".browser_demo", Path(app.outdir) / "_static" / TARGET)
    log.info(f"browser demo: {sum(f.stat().st_size for f in files) / 1e6:.1f} MB in _static/{TARGET}")


def _has_demo(doctree: nodes.document | None) -> bool:
    return doctree is not None and any(PLACEHOLDER in node.astext() for node in doctree.findall(nodes.raw))


def _page_files(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if _has_demo(doctree):  # only the chapter's page loads the demo
        app.add_css_file(f"{TARGET}/resnet-demo.css")
        app.add_js_file(f"{TARGET}/resnet-demo.js", loading_method="defer")


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _page_files)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
