"""resnetbook.onnx_export: the browser's ONNX files agree with PyTorch, large ones are quantized,
the json holds what the page needs, and the spec of the preprocessing is the model's own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from resnetbook import data, onnx_export, standins, weights


@pytest.fixture(scope="module")
def standin() -> weights.Pretrained:
    return weights.load(weights.STANDIN)


@pytest.fixture(scope="module")
def standin_export(standin, tmp_path_factory) -> onnx_export.BrowserModel:
    return onnx_export.export_for_browser(standin, tmp_path_factory.mktemp("standin"), n_check=64)


def resnet18_random() -> weights.Pretrained:
    """ImageNet's ResNet-18 architecture and preprocessing with random weights (the online path, offline)."""
    entry = weights.default_registry()["resnet18_imagenet"]
    torch.manual_seed(0)
    return weights.Pretrained(entry=entry, requested=entry.name, model=torchvision.models.resnet18().eval(),
                              categories=list(entry.categories), preprocess=entry.preprocess, provenance="random")


def test_standin_is_served_in_32_bits_and_agrees_with_pytorch(standin, standin_export):
    model = standin_export
    assert not model.quantized and model.served == f"{weights.STANDIN}.onnx"
    assert model.fp32_bytes < onnx_export.QUANTIZE_ABOVE and model.int8_bytes < model.fp32_bytes / 2
    X = torch.stack([e.input for e in standin.examples(16)])
    assert onnx_export.max_abs_diff(model.folder / model.served, standin.model, X) < 1e-4
    assert model.max_abs_diff < 1e-4
    agreement = model.agreement
    assert agreement.n == 64 and agreement.top1 > 0.9
    assert agreement.accuracy_fp32 > 0.85 and abs(agreement.accuracy_fp32 - agreement.accuracy_int8) < 0.05


def test_json_holds_what_the_page_reads(standin, standin_export):
    config = onnx_export.read_config(standin_export.folder)
    meta = standins.read_meta(standins.FOLDER, standins.META_FILE)
    assert config["categories"] == list(data.CLASSES)
    assert config["preprocess"] == {"kind": "gray", "size": 28, "mean": [meta["mean"]], "std": [meta["std"]]}
    assert config["model"] == standin_export.served and config["model_bytes"] == standin_export.fp32_bytes
    assert config["input"] == {"name": "image", "shape": [1, 1, 28, 28]} and config["output"] == "logits"
    assert config["weights"] == weights.STANDIN and config["note"] == standin.provenance
    assert config["key"] == onnx_export.weights_key(standin)


def test_an_export_of_the_same_weights_is_reused(standin, standin_export):
    path = standin_export.folder / standin_export.served
    before = path.stat().st_mtime_ns
    again = onnx_export.export_for_browser(standin, standin_export.folder)
    assert again == standin_export and path.stat().st_mtime_ns == before


def test_other_weights_are_exported_again(standin, standin_export, tmp_path):
    model = standins.load_model(standin.entry.build, standins.read_meta(standins.FOLDER, standins.META_FILE))
    with torch.no_grad():
        model.fc.bias.add_(1.0)
    changed = dataclasses.replace(standin, model=model)
    assert onnx_export.weights_key(changed) != onnx_export.weights_key(standin)


def test_resnet18_is_quantized_and_its_spec_is_torchvisions(tmp_path):
    pretrained = resnet18_random()
    model = onnx_export.export_for_browser(pretrained, tmp_path, n_check=5)
    assert model.fp32_bytes > onnx_export.QUANTIZE_ABOVE and model.quantized
    assert model.served == "resnet18_imagenet.int8.onnx" and model.int8_bytes < model.fp32_bytes / 3
    config = onnx_export.read_config(tmp_path)
    assert config["preprocess"]["kind"] == "rgb" and config["input"]["shape"] == [1, 3, 224, 224]
    assert model.max_abs_diff < 1e-3 and model.agreement.accuracy_fp32 is None
    photo = data.sample_images()["rocket"]  # 427 x 640: resized, cropped
    assert torch.allclose(onnx_export.apply_spec(config["preprocess"], photo), pretrained.preprocess(photo), atol=1e-6)


def test_a_spec_that_is_not_the_models_preprocessing_is_refused(standin, tmp_path):
    shifted = dataclasses.replace(standin, preprocess=lambda image: standin.preprocess(image) + 0.1)
    with pytest.raises(onnx_export.ExportMismatchError, match="preprocessing"):
        onnx_export.export_for_browser(shifted, tmp_path, n_check=4)


def test_unknown_weights_have_no_spec():
    with pytest.raises(ValueError, match="no browser preprocessing"):
        onnx_export.preprocessing_spec("resnet50_places365")


def test_agreement_counts_top1_top5_and_accuracy():
    fp32 = np.array([[5.0, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]])
    int8 = np.array([[5.0, 4, 3, 2, 1, 0], [0, 1, 2, 3, 5, 4]])  # second: top 1 and order change
    result = onnx_export.agreement(fp32, int8, labels=np.array([0, 4]))
    assert (result.n, result.top1, result.top5) == (2, 0.5, 0.5)
    assert (result.accuracy_fp32, result.accuracy_int8) == (0.5, 1.0)
    assert 0 < result.max_prob_diff < 1


def test_demo_download_counts_every_file_the_page_fetches(standin_export, tmp_path, monkeypatch):
    import browser_demo

    monkeypatch.setattr(browser_demo, "export_model", lambda cache: standin_export)
    assert browser_demo.ORT_FILES == onnx_export.RUNTIME_FILES, "the site copies the files the page's size counts"
    root = Path(__file__).resolve().parents[1]
    sizes = onnx_export.demo_download(root, standin_export)
    if sizes is None:
        pytest.skip("onnxruntime-web is not installed (make setup)")
    target = tmp_path / "site"
    copied = browser_demo.copy_site_files(root, standin_export.folder, target)
    assert sorted(sizes) == sorted(p.name for p in copied)
    assert sum(sizes.values()) == sum(p.stat().st_size for p in copied)
    assert onnx_export.demo_download(tmp_path, standin_export) is None  # no node_modules: Colab
