"""Tests of resnetbook.weights: real code paths, tiny models, a local HTTP server (offline)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from resnetbook import weights
from resnetbook.download import DownloadError, UnsafeCheckpointError
from support import closed_port_url
from test_download import Payload

PLACES_TEXT = "/a/airfield 0\n/b/bar 1\n/s/subway_station/platform 2\n/a/amusement_park 3\n"


class TinyNet(nn.Module):
    """Four classes, named like torchvision's ResNet (conv1, bn1, fc), plus a shortcut conv."""

    def __init__(self, in_channels: int = 3, num_classes: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 2, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(2)
        self.downsample = nn.Conv2d(2, 2, 1)  # a shortcut: not counted as a layer
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(torch.flatten(self.avgpool(x + self.downsample(x)), 1))


def trained_state(in_channels: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    model = TinyNet(in_channels)
    for parameter in model.parameters():
        parameter.data.normal_()
    return model.state_dict()


def fake_examples(n: int, preprocess) -> list[weights.Example]:
    images = [np.full((28, 28), 40 * i, np.uint8) for i in range(3)][:n]
    return [weights.Example(f"gray {i}", im, preprocess(im), i) for i, im in enumerate(images)]


@pytest.fixture
def standin_entry(tmp_path: Path) -> weights.StandinEntry:
    """A fake stand-in: a tiny model's state dict plus its json, in a folder of its own."""
    folder = tmp_path / "standins"
    folder.mkdir()
    torch.save(trained_state(1), folder / "tiny_resnet.pt")
    meta = {
        "file": "tiny_resnet.pt", "sha256": hashlib.sha256((folder / "tiny_resnet.pt").read_bytes()).hexdigest(),
        "test_accuracy": 0.875, "seed": 7, "recipe": "a test recipe", "mean": [0.25], "std": 0.5, "epochs": 3,
    }
    (folder / "tiny_resnet.json").write_text(json.dumps(meta))
    return weights.StandinEntry(
        name="fashion_resnet_standin", folder=folder, meta_file="tiny_resnet.json",
        build=lambda: TinyNet(1), categories=lambda: ["shirt", "bag", "boot", "coat"],
        examples=fake_examples,
    )


@pytest.fixture
def registry(server, standin_entry, tmp_path, monkeypatch) -> dict[str, weights.Entry]:  # noqa: F811
    """The real entries, pointed at the local server, with tiny models; TORCH_HOME in tmp."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    monkeypatch.delenv(weights.MIRROR_VAR, raising=False)
    path = tmp_path / "resnet-tiny.pth"
    torch.save(trained_state(), path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    places = {"state_dict": {f"module.{k}": v for k, v in trained_state().items()}, "epoch": 3}
    torch.save(places, tmp_path / "places.pth.tar")
    places_bytes = (tmp_path / "places.pth.tar").read_bytes()
    real = weights.default_registry()
    return {
        "resnet18_imagenet": dataclasses.replace(
            real["resnet18_imagenet"], build=TinyNet, categories=("a", "b", "c", "d"),
            checkpoint=weights.RemoteFile(server.add("/resnet-tiny.pth", path.read_bytes()),
                                          f"resnet18-{sha[:8]}.pth", sha[:8])),
        "resnet50_places365": dataclasses.replace(
            real["resnet50_places365"], build=TinyNet,
            checkpoint=weights.RemoteFile(server.add("/places.pth.tar", places_bytes), "places.pth.tar",
                                          hashlib.sha256(places_bytes).hexdigest()),
            categories=weights.RemoteFile(server.add("/cats.txt", PLACES_TEXT.encode()), "cats.txt",
                                          hashlib.sha256(PLACES_TEXT.encode()).hexdigest())),
        "offline_imagenet": dataclasses.replace(
            real["resnet18_imagenet"], name="offline_imagenet", build=TinyNet,
            checkpoint=weights.RemoteFile(closed_port_url("/r-12345678.pth"), "r-12345678.pth", "12345678")),
        "fashion_resnet_standin": standin_entry,
    }


def assert_same_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_pretrained_download_builds_the_model_and_caches_it(registry, server, tmp_path):  # noqa: F811
    pre = weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert_same_weights(pre.model, trained_state())
    assert not pre.model.training and not pre.is_standin
    assert (pre.name, pre.requested, pre.dataset) == ("resnet18_imagenet", "resnet18_imagenet", "ImageNet")
    assert pre.categories == ["a", "b", "c", "d"]
    assert "ResNet18_Weights.IMAGENET1K_V1" in pre.provenance and server.url("/resnet-tiny.pth") in pre.provenance
    cached = tmp_path / "torch" / "hub" / "checkpoints" / registry["resnet18_imagenet"].checkpoint.filename
    assert cached.is_file()
    assert pre.preprocess(np.zeros((300, 400, 3), np.uint8)).shape == (3, 224, 224)
    weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert server.requests == ["/resnet-tiny.pth"]  # the second load is a cache hit


def test_places365_strips_module_prefix_and_parses_categories(registry):
    pre = weights.load("resnet50_places365", "pretrained", registry=registry, progress=False)
    assert_same_weights(pre.model, trained_state())
    assert pre.categories == ["airfield", "bar", "subway station (platform)", "amusement park"]
    assert pre.dataset == "Places365"
    assert pre.preprocess(Image.new("L", (100, 50))).shape == (3, 256, 256)


def test_strip_module_prefix_only_strips_the_front():
    state = {"module.conv1.weight": 1, "module.fc.module.bias": 2, "bn1.bias": 3}
    assert weights.strip_module_prefix(state) == {"conv1.weight": 1, "fc.module.bias": 2, "bn1.bias": 3}
    with pytest.raises(ValueError, match="'state_dict' key"):
        weights.places365_state_dict({"epoch": 1})


def test_category_parsing_checks_numbering(tmp_path):
    path = tmp_path / "categories.txt"
    path.write_text("/a/apartment_building/outdoor 0\n/b/bar 1\n")
    assert weights.parse_places365_categories(path.read_text()) == ["apartment building (outdoor)", "bar"]
    with pytest.raises(ValueError, match="line 2"):
        weights.parse_places365_categories("/a/airfield 0\n/b/bar 5\n")
    with pytest.raises(ValueError, match="line 1"):
        weights.parse_places365_categories("airfield 0\n")


def test_no_network_in_pretrained_mode_is_a_clear_error(registry, tmp_path):
    with pytest.raises(DownloadError) as info:
        weights.load("offline_imagenet", "pretrained", registry=registry, progress=False)
    message = str(info.value)
    assert "Could not download" in message and "RESNETBOOK_WEIGHTS=standin" in message
    assert "hub/checkpoints/r-12345678.pth" in message
    assert list((tmp_path / "torch" / "hub" / "checkpoints").iterdir()) == []


def test_no_network_in_auto_mode_falls_back_and_the_note_says_why(registry, standin_entry, capsys, caplog):
    caplog.set_level(logging.INFO, logger="resnetbook.weights")
    pre = weights.load("offline_imagenet", registry=registry, progress=False)
    assert capsys.readouterr().err == ""  # nothing on stderr, which a chapter would show on its page
    [record] = caplog.records
    assert "offline_imagenet" in record.getMessage() and "RESNETBOOK_WEIGHTS=pretrained" in record.getMessage()
    assert pre.is_standin and pre.dataset == "FashionMNIST" and pre.requested == "offline_imagenet"
    assert pre.name == "fashion_resnet_standin" and pre.categories == ["shirt", "bag", "boot", "coat"]
    assert_same_weights(pre.model, trained_state(1))
    meta = json.loads((standin_entry.folder / "tiny_resnet.json").read_text())
    assert pre.provenance == (
        f"Stand-in weights: `tiny_resnet`, a CIFAR-style ResNet with 2 weighted layers, trained by this project on "
        f"FashionMNIST (test accuracy 87.5%, 3 epochs, seed 7, sha256 {meta['sha256'][:8]}…); "
        f"the pretrained ResNet-18 (ImageNet) could not be loaded in this build (Could not download "
        f"{registry['offline_imagenet'].checkpoint.url}: [Errno 111] Connection refused)."
    )
    assert "/" + "tmp" not in pre.provenance.replace(registry["offline_imagenet"].checkpoint.url, "")


def test_standin_mode_makes_no_request(registry, server, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv(weights.ENV_VAR, "standin")
    pre = weights.load("resnet50_places365", registry=registry, progress=False)
    assert pre.is_standin and server.requests == []
    assert "RESNETBOOK_WEIGHTS=standin was set" in pre.provenance
    assert capsys.readouterr().err == ""


def test_unsafe_downloaded_checkpoint_is_refused_then_replaced_by_standin(registry, server, tmp_path, capsys):  # noqa: F811
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.ones(1), "x": Payload(marker)}, path)
    data = path.read_bytes()
    evil = dataclasses.replace(registry["resnet18_imagenet"], checkpoint=weights.RemoteFile(
        server.add("/evil.pth", data), "evil.pth", hashlib.sha256(data).hexdigest()))
    registry = {**registry, "resnet18_imagenet": evil}
    with pytest.raises(UnsafeCheckpointError):
        weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    pre = weights.load("resnet18_imagenet", registry=registry, progress=False)
    assert pre.is_standin and "Refused to load" in pre.provenance
    assert not marker.exists()


def test_altered_or_missing_standin_is_refused(registry, standin_entry):
    with open(standin_entry.folder / "tiny_resnet.pt", "ab") as file:
        file.write(b"\0")
    with pytest.raises(weights.StandinError, match="altered"):
        weights.load("resnet18_imagenet", "standin", registry=registry)
    (standin_entry.folder / "tiny_resnet.json").unlink()
    with pytest.raises(weights.StandinError, match="python -m resnetbook.standins"):
        weights.load("fashion_resnet_standin", registry=registry)


def test_standin_preprocess_grays_resizes_and_normalizes(registry):
    pre = weights.load("fashion_resnet_standin", registry=registry)
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
    pre = weights.load("fashion_resnet_standin", registry=registry)
    examples = pre.examples(2)
    assert [e.label for e in examples] == [0, 1]
    assert torch.equal(examples[1].input, pre.preprocess(examples[1].image))
    with pytest.raises(ValueError, match="positive integer"):
        pre.examples(0)
    note = pre.note()
    markdown = note._repr_markdown_()
    assert markdown.startswith(":::{note} Weights used on this page\n") and markdown.endswith(":::\n")
    assert pre.provenance in markdown and pre.provenance in repr(note)
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
    assert registry["fashion_resnet_standin"].folder.name == "standins"


def test_committed_standin_matches_its_json():
    entry = weights.default_registry()["fashion_resnet_standin"]
    if not entry.folder.joinpath(entry.meta_file).is_file():
        pytest.skip("the stand-in weights are not committed yet (python -m resnetbook.standins)")
    pre = weights.load("fashion_resnet_standin")
    meta = weights.read_standin_meta(entry)
    assert pre.categories == list(__import__("resnetbook.data").data.CLASSES)
    examples = pre.examples(200)
    with torch.no_grad():
        predicted = pre.model(torch.stack([e.input for e in examples])).argmax(1)
    accuracy = (predicted == torch.tensor([e.label for e in examples])).float().mean().item()
    recorded = meta["test_accuracy"] if meta["test_accuracy"] <= 1 else meta["test_accuracy"] / 100
    assert accuracy > recorded - 0.06, (accuracy, recorded)  # 200 images: a few points of noise
