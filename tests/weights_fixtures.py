"""Tiny models, a fake stand-in and a served folder for the tests of weights and the mirror."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from resnetbook import weights
from resnetbook.examples import Example
from support import serve

PLACES_TEXT = "/a/airfield 0\n/b/bar 1\n/s/subway_station/platform 2\n/a/amusement_park 3\n"
PLACES_NAMES = ["airfield", "bar", "subway station (platform)", "amusement park"]


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


def assert_same_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def sha256_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def saved(obj: object, path: Path, **options) -> bytes:
    """``torch.save(obj)`` to ``path``; return the file's bytes."""
    torch.save(obj, path, **options)
    return path.read_bytes()


def cached(torch_home: Path) -> list[str]:
    """The file names in torch.hub's checkpoint cache under ``torch_home``."""
    folder = torch_home / "hub" / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def fake_examples(n: int, preprocess) -> list[Example]:
    images = [np.full((28, 28), 40 * i, np.uint8) for i in range(3)][:n]
    return [Example(f"gray {i}", im, preprocess(im), i) for i, im in enumerate(images)]


class Served:
    """A folder on 127.0.0.1: ``add`` a file, get its URL; ``url()`` is the base, with a slash."""

    def __init__(self, folder: Path, base: str) -> None:
        self.folder, self.base = folder, base

    def url(self, name: str = "") -> str:
        return f"{self.base}/{name}"

    def add(self, name: str, body: bytes) -> str:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return self.url(name)

    def remove(self, name: str) -> None:
        (self.folder / name).unlink()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """An empty folder served on 127.0.0.1 (``support.serve``); a missing file answers 404."""
    folder = tmp_path / "served"
    folder.mkdir()
    base, server = serve(folder)
    yield Served(folder, base)
    server.shutdown()
    server.server_close()


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch) -> Path:
    """TORCH_HOME in tmp, and neither RESNETBOOK_WEIGHTS nor RESNETBOOK_MIRROR set."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    monkeypatch.delenv("RESNETBOOK_MIRROR", raising=False)
    return tmp_path / "torch"


@pytest.fixture
def standin_entry(tmp_path: Path) -> weights.StandinEntry:
    """A fake stand-in: a tiny model's state dict plus its json, in a folder of its own."""
    folder = tmp_path / "standins"
    folder.mkdir()
    body = saved(trained_state(1), folder / "tiny_resnet.pt")
    meta = {"file": "tiny_resnet.pt", "sha256": sha256_of(body), "test_accuracy": 0.875, "seed": 7,
            "recipe": "a test recipe", "mean": 0.25, "std": 0.5, "epochs": 3}
    (folder / "tiny_resnet.json").write_text(json.dumps(meta))
    return weights.StandinEntry(name=weights.STANDIN, folder=folder, meta_file="tiny_resnet.json",
                                build=lambda: TinyNet(1), categories=["shirt", "bag", "boot", "coat"],
                                examples=fake_examples)
