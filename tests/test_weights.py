"""Tests of resnetbook.weights: real code paths, tiny models, files served from 127.0.0.1 (offline)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from resnetbook import remote, standins, weights
from resnetbook.download import DownloadError, UnsafeCheckpointError
from weights_fixtures import (PLACES_NAMES, PLACES_TEXT, TinyNet, assert_same_weights, cached, saved,
                              served, sha256_of, standin_entry, torch_home, trained_state)  # noqa: F401 (fixtures)


class NotATensor:
    """Pickled by reference: ``torch.load(weights_only=True)`` must refuse it."""


@pytest.fixture
def registry(served, standin_entry, torch_home, tmp_path) -> dict[str, weights.Entry]:  # noqa: F811
    """The real entries, served from 127.0.0.1, with tiny models; ``offline_imagenet``'s file is absent (404)."""
    tiny = saved(trained_state(), tmp_path / "tiny.pth")
    places = saved({"state_dict": {f"module.{k}": v for k, v in trained_state().items()}, "epoch": 3},
                   tmp_path / "places.pth.tar")
    real = weights.default_registry()
    return {
        "resnet18_imagenet": dataclasses.replace(
            real["resnet18_imagenet"], build=TinyNet, categories=("a", "b", "c", "d"),
            checkpoint=remote.RemoteFile(served.add("resnet-tiny.pth", tiny),
                                         f"resnet18-{sha256_of(tiny)[:8]}.pth", sha256_of(tiny)[:8])),
        "resnet50_places365": dataclasses.replace(
            real["resnet50_places365"], build=TinyNet,
            checkpoint=remote.RemoteFile(served.add("places.pth.tar", places), "places.pth.tar",
                                         sha256_of(places)),
            categories=remote.RemoteFile(served.add("cats.txt", PLACES_TEXT.encode()), "cats.txt",
                                         sha256_of(PLACES_TEXT.encode()))),
        "offline_imagenet": dataclasses.replace(
            real["resnet18_imagenet"], name="offline_imagenet", build=TinyNet,
            checkpoint=remote.RemoteFile(served.url("r-12345678.pth"), "r-12345678.pth", "12345678")),
        weights.STANDIN: standin_entry,
    }


def test_pretrained_download_builds_the_model_and_caches_it(registry, served, torch_home):  # noqa: F811
    pre = weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert_same_weights(pre.model, trained_state())
    assert not pre.model.training and not pre.is_standin
    assert (pre.name, pre.requested, pre.dataset) == ("resnet18_imagenet", "resnet18_imagenet", "ImageNet")
    assert pre.categories == ["a", "b", "c", "d"]
    assert pre.provenance == (
        "Pretrained weights: ResNet-18 trained on ImageNet, published by torchvision's "
        f"`ResNet18_Weights.IMAGENET1K_V1` ({served.url('resnet-tiny.pth')}, sha256 "
        f"{registry['resnet18_imagenet'].checkpoint.sha256}…).")
    assert cached(torch_home) == [registry["resnet18_imagenet"].checkpoint.filename]
    assert pre.preprocess(np.zeros((300, 400, 3), np.uint8)).shape == (3, 224, 224)
    served.remove("resnet-tiny.pth")
    again = weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert_same_weights(again.model, trained_state())  # from the cache: the server no longer has it


def test_places365_strips_module_prefix_and_parses_categories(registry):
    pre = weights.load("resnet50_places365", "pretrained", registry=registry, progress=False)
    assert_same_weights(pre.model, trained_state())
    assert pre.categories == PLACES_NAMES and pre.dataset == "Places365"
    assert pre.preprocess(Image.new("L", (100, 50))).shape == (3, 256, 256)


def test_strip_module_prefix_only_strips_the_front():
    state = {"module.conv1.weight": 1, "module.fc.module.bias": 2, "bn1.bias": 3}
    assert weights.strip_module_prefix(state) == {"conv1.weight": 1, "fc.module.bias": 2, "bn1.bias": 3}
    with pytest.raises(ValueError, match="'state_dict' key"):
        weights.places365_state_dict({"epoch": 1})


def test_category_parsing_checks_numbering():
    assert weights.parse_places365_categories("/a/apartment_building/outdoor 0\n/b/bar 1\n") == [
        "apartment building (outdoor)", "bar"]
    with pytest.raises(ValueError, match="line 2"):
        weights.parse_places365_categories("/a/airfield 0\n/b/bar 5\n")
    with pytest.raises(ValueError, match="line 1"):
        weights.parse_places365_categories("airfield 0\n")


def test_no_network_in_pretrained_mode_is_an_error_with_advice(registry, torch_home):  # noqa: F811
    with pytest.raises(DownloadError) as info:
        weights.load("offline_imagenet", "pretrained", registry=registry, progress=False)
    assert "404" in str(info.value)
    advice = info.value.__notes__[-1]
    assert registry["offline_imagenet"].checkpoint.url in advice
    assert str(torch_home / "hub" / "checkpoints") in advice
    assert "RESNETBOOK_MIRROR" in advice and "RESNETBOOK_WEIGHTS=standin" in advice
    assert cached(torch_home) == []


def test_no_network_in_auto_mode_falls_back_and_the_note_says_why(registry, standin_entry, capsys, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger="resnetbook.fallback")
    pre = weights.load("offline_imagenet", registry=registry, progress=False)
    assert capsys.readouterr().err == ""  # nothing on stderr, which a chapter would show on its page
    [record] = caplog.records
    assert "offline_imagenet" in record.getMessage() and "RESNETBOOK_WEIGHTS=pretrained" in record.getMessage()
    assert pre.is_standin and pre.dataset == "FashionMNIST" and pre.requested == "offline_imagenet"
    assert pre.name == weights.STANDIN and pre.categories == ["shirt", "bag", "boot", "coat"]
    assert_same_weights(pre.model, trained_state(1))
    digest = sha256_of((standin_entry.folder / "tiny_resnet.pt").read_bytes())
    assert pre.provenance.startswith(
        f"Stand-in weights: `tiny_resnet`, a CIFAR-style ResNet with 2 weighted layers, trained by this project on "
        f"FashionMNIST (test accuracy 87.5%, 3 epochs, seed 7, sha256 {digest[:8]}…); "
        f"the pretrained ResNet-18 (ImageNet) could not be loaded in this build (")
    why = pre.provenance.removesuffix(").").split(" in this build (", 1)[1]
    assert registry["offline_imagenet"].checkpoint.url in why and "404" in why
    assert "/tmp" not in why.replace(registry["offline_imagenet"].checkpoint.url, "")  # no build-machine paths
    assert "without internet access" not in pre.provenance  # advice is for errors, not for the page


def test_standin_mode_downloads_nothing(registry, torch_home, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv(weights.ENV_VAR, "standin")
    pre = weights.load("resnet50_places365", registry=registry, progress=False)
    assert pre.is_standin and cached(torch_home) == []
    assert pre.provenance.endswith("; RESNETBOOK_WEIGHTS=standin was set, so the pretrained ResNet-50 "
                                   "(Places365) was not downloaded.")
    assert capsys.readouterr().err == ""


def test_unsafe_downloaded_checkpoint_is_refused_then_replaced_by_standin(registry, served, tmp_path):  # noqa: F811
    evil = saved({"fc.weight": torch.ones(1), "x": NotATensor()}, tmp_path / "evil.pth")
    registry["resnet18_imagenet"] = dataclasses.replace(registry["resnet18_imagenet"], checkpoint=remote.RemoteFile(
        served.add("evil.pth", evil), "evil.pth", sha256_of(evil)))
    with pytest.raises(UnsafeCheckpointError):
        weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    pre = weights.load("resnet18_imagenet", registry=registry, progress=False)
    assert pre.is_standin and "could not be loaded in this build (Refused to load evil.pth" in pre.provenance


def test_altered_or_missing_standin_is_refused(registry, standin_entry):  # noqa: F811
    with open(standin_entry.folder / "tiny_resnet.pt", "ab") as file:
        file.write(b"\0")
    with pytest.raises(standins.StandinError, match="altered"):
        weights.load("resnet18_imagenet", "standin", registry=registry)
    (standin_entry.folder / "tiny_resnet.pt").unlink()
    with pytest.raises(standins.StandinError, match="weights .*tiny_resnet.pt are missing"):
        weights.load("resnet18_imagenet", "standin", registry=registry)
    (standin_entry.folder / "tiny_resnet.json").unlink()
    with pytest.raises(standins.StandinError, match="python -m resnetbook.standins"):
        weights.load(weights.STANDIN, registry=registry)


def test_standin_preprocess_grays_resizes_and_normalizes(registry):
    pre = weights.load(weights.STANDIN, registry=registry)
    white = pre.preprocess(np.full((56, 40, 3), 255, np.uint8))
    assert white.shape == (1, 28, 28) and torch.allclose(white, torch.full_like(white, (1 - 0.25) / 0.5))
    red = pre.preprocess(Image.new("RGB", (28, 28), (255, 0, 0)))
    assert torch.allclose(red, torch.full((1, 28, 28), (0.299 - 0.25) / 0.5), atol=1e-6)
    assert torch.equal(pre.preprocess(torch.zeros(28, 28, dtype=torch.uint8)), torch.full((1, 28, 28), -0.5))
    with pytest.raises(ValueError, match="uint8"):
        pre.preprocess(np.zeros((28, 28), np.float32))
    with pytest.raises(ValueError, match="shape"):
        pre.preprocess(np.zeros((2, 28, 28, 3), np.uint8))


def test_examples_note_and_bad_arguments(registry):
    pre = weights.load(weights.STANDIN, registry=registry)
    assert pre.provenance.endswith("; it was requested by name.")
    examples = pre.examples(2)
    assert [e.label for e in examples] == [0, 1]
    assert torch.equal(examples[1].input, pre.preprocess(examples[1].image))
    with pytest.raises(ValueError, match="positive integer"):
        pre.examples(0)
    note = pre.note()
    assert note._repr_markdown_() == f":::{{note}} Weights used on this page\n{pre.provenance}\n:::\n"
    assert repr(note) == f"Weights used on this page: {pre.provenance}"
    assert '<div class="admonition note">' in note._repr_html_() and "<code>tiny_resnet</code>" in note._repr_html_()
    with pytest.raises(ValueError, match="unknown weights 'resnet19'"):
        weights.load("resnet19", registry=registry)
    with pytest.raises(ValueError, match="must be one of"):
        weights.load("resnet18_imagenet", "sometimes", registry=registry)


def test_default_registry_matches_the_published_weights():
    registry = weights.default_registry()
    resnet18 = registry["resnet18_imagenet"]
    assert resnet18.checkpoint.filename == "resnet18-f37072fd.pth" and resnet18.checkpoint.sha256 == "f37072fd"
    assert len(resnet18.categories) == 1000 and resnet18.categories[0] == "tench"
    places = registry["resnet50_places365"]
    with torch.device("meta"):  # shapes only: no weights initialized, no arithmetic done
        model = places.build()
    assert model.fc.out_features == 365
    trunk = nn.Sequential(*list(model.children())[:-2]).eval()
    image = places.preprocess(np.zeros((300, 500, 3), np.uint8))
    maps = trunk(image[None].to("meta"))
    assert maps.shape == (1, 2048, 8, 8)  # chapter 4 relies on this for a 256x256 input
