"""The book's ResNet as an ONNX file for the browser, checked against PyTorch (chapter 7).

:func:`export_for_browser` writes what chapter 7's page loads into a folder:

- ``<weights>.onnx``: the model, exported with ``torch.onnx.export`` (the torch.export-based
  exporter, one file with the weights inside), checked against PyTorch with onnxruntime;
  when that file is larger than :data:`QUANTIZE_ABOVE` bytes (ImageNet's ResNet-18: 47 MB),
  the page gets ``<weights>.int8.onnx`` instead: weights quantized to 8 bits by
  onnxruntime's dynamic quantization (at least a quarter of the size: scales, zero points,
  biases and the graph stay as they are);
- ``resnet-demo.json``: what the page's script needs: the file to load, the class names,
  the preprocessing (:func:`preprocessing_spec`), the weights' note, sizes and how far the
  8-bit model agrees with the 32-bit one.

A folder that already holds the export of the same weights (same key in the json) is reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.transforms.v2 import functional as TF

from resnetbook import images, standins
from resnetbook.weights import STANDIN, Pretrained

CONFIG_FILE = "resnet-demo.json"
QUANTIZE_ABOVE = 10_000_000  # bytes: ResNet-18 (47 MB) is quantized, the stand-in (0.35 MB) is not
INPUT, OUTPUT = "image", "logits"
# The files of ONNX Runtime Web the demo page fetches (book/_ext/browser_demo copies these;
# tests/test_onnx_export.py checks that the two lists agree).
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
TORCHVISION_WEIGHTS = {"resnet18_imagenet": torchvision.models.ResNet18_Weights.IMAGENET1K_V1}


class ExportMismatchError(RuntimeError):
    """The browser's preprocessing or the exported model does not compute what PyTorch computes."""


@dataclass(frozen=True)
class Agreement:
    """How far the 8-bit model's answers agree with the 32-bit model's, on ``n`` inputs."""

    n: int
    top1: float  # fraction of inputs with the same top class
    top5: float  # fraction with the same five classes, in the same order
    max_prob_diff: float  # largest difference of any class probability
    accuracy_fp32: float | None = None  # against labels, when the inputs have them
    accuracy_int8: float | None = None


@dataclass(frozen=True)
class BrowserModel:
    """What :func:`export_for_browser` wrote, and what it measured."""

    folder: Path
    served: str  # file name of the model the page loads
    fp32_bytes: int
    int8_bytes: int
    quantized: bool
    export_seconds: float
    max_abs_diff: float  # largest |ONNX - PyTorch| logit of the 32-bit file on the inputs
    agreement: Agreement

    @property
    def served_bytes(self) -> int:
        return self.int8_bytes if self.quantized else self.fp32_bytes


# ---------------------------------------------------------------- export and check

EXPORT_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
EXPORT_INSTALL = "pip install 'onnx>=1.17,<1.23' onnxscript onnxruntime"  # the package's [export] extra


def require_export_packages() -> None:
    """Raise ImportError, saying how to install them, when the export's packages are missing.

    They are the package's ``export`` extra, not its dependencies: onnx 1.23 would replace
    Colab's protobuf (see code/pyproject.toml).
    """
    import importlib.util

    missing = [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"the ONNX export needs {', '.join(missing)}: run `%{EXPORT_INSTALL}` "
                          "(in a notebook; in a shell without the %), then run this cell again")


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Write ``model`` (eval mode, input shaped like ``example``) to ``path`` as one ONNX file."""
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter reports its steps on stdout
        torch.onnx.export(model.eval(), (example,), str(path), dynamo=True, verbose=False, external_data=False,
                          input_names=[INPUT], output_names=[OUTPUT])
    return path


def onnx_logits(path: Path, X: torch.Tensor) -> np.ndarray:
    """The logits onnxruntime computes with the model in ``path``, one input of ``X`` at a time."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run([OUTPUT], {INPUT: x[None].numpy()})[0] for x in X])


def max_abs_diff(path: Path, model: nn.Module, X: torch.Tensor) -> float:
    """Largest difference between the logits of the ONNX file and of ``model`` on ``X``."""
    with torch.no_grad():
        expected = model.eval()(X).numpy()
    return float(np.abs(onnx_logits(path, X) - expected).max())


def demo_download(root: Path, model: BrowserModel) -> dict[str, int] | None:
    """Bytes of each file chapter 7's demo fetches: the served model, its json, the page's script and
    style, and ONNX Runtime Web's files from ``root/node_modules`` (chapter 7).

    None where onnxruntime-web is not installed (Colab): only the book build serves the demo.
    """
    dist = Path(root) / "node_modules" / "onnxruntime-web" / "dist"
    static = Path(root) / "book" / "_ext" / "browser_demo" / "static"
    if not (dist.is_dir() and static.is_dir()):
        return None
    files = [dist / name for name in RUNTIME_FILES] + sorted(p for p in static.iterdir() if p.is_file())
    files += [Path(model.folder) / model.served, Path(model.folder) / CONFIG_FILE]
    if not all(f.is_file() for f in files):
        return None
    return {f.name: f.stat().st_size for f in files}


def quantize(path: Path, out: Path) -> Path:
    """Quantize the weights of ``path`` to 8 bits (onnxruntime's dynamic quantization) into ``out``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"  # shapes inferred again, as onnxruntime advises
        quant_pre_process(str(path), str(prepared))
        quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QUInt8)
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def agreement(fp32: np.ndarray, int8: np.ndarray, labels: np.ndarray | None = None) -> Agreement:
    """Compare two models' logits (N x C) on the same inputs; accuracies when ``labels`` are given."""
    top5 = lambda logits: np.argsort(-logits, axis=1, kind="stable")[:, :5]  # noqa: E731
    accuracies = {}
    if labels is not None:
        accuracies = {"accuracy_fp32": float((fp32.argmax(1) == labels).mean()),
                      "accuracy_int8": float((int8.argmax(1) == labels).mean())}
    return Agreement(n=len(fp32), top1=float((fp32.argmax(1) == int8.argmax(1)).mean()),
                     top5=float((top5(fp32) == top5(int8)).all(axis=1).mean()),
                     max_prob_diff=float(np.abs(_softmax(fp32) - _softmax(int8)).max()), **accuracies)


# ---------------------------------------------------------------- what the page's script needs


def preprocessing_spec(name: str) -> dict:
    """The preprocessing of the weights ``name`` (``Pretrained.name``) in the words the page's script reads.

    ``gray``: luma, resized to ``size`` (antialiased bilinear, on floats in [0, 1]) unless it
    has that size, then ``(x - mean) / std``. ``rgb``: shorter side resized to ``resize``
    (antialiased bilinear on floats, rounded back to 8 bits: torchvision's resize of a uint8
    image), centre crop ``crop``, then per-channel mean/std.
    """
    if name == STANDIN:
        meta = standins.read_meta(standins.FOLDER, standins.META_FILE)
        return {"kind": "gray", "size": 28, "mean": [meta["mean"]], "std": [meta["std"]]}
    if name in TORCHVISION_WEIGHTS:
        transforms = TORCHVISION_WEIGHTS[name].transforms()
        return {"kind": "rgb", "resize": transforms.resize_size[0], "crop": transforms.crop_size[0],
                "mean": list(transforms.mean), "std": list(transforms.std)}
    raise ValueError(f"no browser preprocessing for the weights {name!r}")


def apply_spec(spec: dict, image: images.Image) -> torch.Tensor:
    """``spec`` applied with torchvision's functions (checks that it describes the model's preprocessing)."""
    if spec["kind"] == "gray":
        x = images.to_gray_tensor(image)
        x = x if x.shape[1:] == (spec["size"],) * 2 else TF.resize(x, [spec["size"]] * 2, antialias=True)
    else:
        resized = TF.resize(images.to_rgb_tensor(image).float(), [spec["resize"]], antialias=True).round()
        x = TF.center_crop(resized, [spec["crop"]]) / 255
    return TF.normalize(x, spec["mean"], spec["std"])


def weights_key(pretrained: Pretrained) -> str:
    """A hash of the weights and the tools that export them: equal keys, equal files."""
    digest = hashlib.sha256(f"{pretrained.name} torch {torch.__version__}".encode())
    for name, tensor in pretrained.model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _config(pretrained: Pretrained, result: BrowserModel, spec: dict, key: str, shape: list[int]) -> dict:
    return {"key": key, "weights": pretrained.name, "note": pretrained.provenance, "dataset": pretrained.dataset,
            "model": result.served, "model_bytes": result.served_bytes, "quantized": result.quantized,
            "input": {"name": INPUT, "shape": shape}, "output": OUTPUT, "categories": pretrained.categories,
            "preprocess": spec, "measured": {**asdict(result), "folder": None}}


def read_config(folder: Path) -> dict | None:
    """The json the page reads, or None when ``folder`` has none."""
    path = Path(folder) / CONFIG_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _from_config(folder: Path, config: dict) -> BrowserModel:
    measured = {**config["measured"], "folder": Path(folder)}
    return BrowserModel(**{**measured, "agreement": Agreement(**measured["agreement"])})


def export_for_browser(pretrained: Pretrained, folder: Path, n_check: int = 500) -> BrowserModel:
    """Export ``pretrained`` for chapter 7's page into ``folder`` (see the module docstring).

    ``n_check`` of the model's example inputs check the export (max abs diff of the logits,
    below 1e-3 of their range, else :class:`ExportMismatchError`) and measure what 8 bits cost.
    """
    folder, key = Path(folder), weights_key(pretrained)
    if (config := read_config(folder)) is not None and config["key"] == key and (folder / config["model"]).is_file():
        return _from_config(folder, config)
    require_export_packages()
    folder.mkdir(parents=True, exist_ok=True)
    examples = pretrained.examples(n_check)
    spec = preprocessing_spec(pretrained.name)
    for example in examples[:4]:  # the spec the page follows is the model's preprocessing
        if not torch.allclose(apply_spec(spec, example.image), example.input, atol=1e-5):
            raise ExportMismatchError(f"the browser's preprocessing {spec} differs from {pretrained.name}'s: "
                                      "add or correct its entry in preprocessing_spec")
    X = torch.stack([example.input for example in examples])
    start = time.perf_counter()
    fp32 = export_onnx(pretrained.model, X[:1], folder / f"{pretrained.name}.onnx")
    export_seconds = time.perf_counter() - start
    int8 = quantize(fp32, folder / f"{pretrained.name}.int8.onnx")
    with torch.no_grad():
        reference = pretrained.model.eval()(X).numpy()
    logits32, logits8 = onnx_logits(fp32, X), onnx_logits(int8, X)
    diff = float(np.abs(logits32 - reference).max())
    if diff > 1e-3 * max(1.0, float(np.ptp(reference))):
        raise ExportMismatchError(f"the ONNX model's logits differ from PyTorch's by up to {diff:g}: the export "
                                  f"does not reproduce {pretrained.name}; find the first layer whose outputs "
                                  "differ (torch.onnx.verification) before serving it")
    labels = np.array([e.label for e in examples]) if all(e.label is not None for e in examples) else None
    quantized = fp32.stat().st_size > QUANTIZE_ABOVE
    result = BrowserModel(folder=folder, served=(int8 if quantized else fp32).name, fp32_bytes=fp32.stat().st_size,
                          int8_bytes=int8.stat().st_size, quantized=quantized, export_seconds=export_seconds,
                          max_abs_diff=diff, agreement=agreement(logits32, logits8, labels))
    config = _config(pretrained, result, spec, key, list(X[:1].shape))
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
    return result
