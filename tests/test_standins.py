"""The committed stand-in weights load through the registry and reach their recorded accuracy."""

import json

import pytest
import torch

from resnetbook import data, models, standins, weights


@pytest.fixture(scope="module")
def fashion():
    try:
        return data.load_fashion_mnist(download=False)
    except data.DatasetNotFoundError as error:
        pytest.skip(f"FashionMNIST files are absent here, so the accuracy cannot be checked: {error}")


@pytest.fixture(scope="module")
def meta():
    return json.loads((standins.FOLDER / standins.META_FILE).read_text(encoding="utf-8"))


def test_json_records_the_recipe(meta):
    for key in ("file", "sha256", "test_accuracy", "seed", "recipe", "mean", "std", "epochs", "architecture"):
        assert key in meta
    assert meta["recipe"]["seed"] == meta["seed"] and meta["recipe"]["epochs"] == meta["epochs"]
    assert meta["test_accuracy"] >= 0.92
    assert (standins.FOLDER / meta["file"]).stat().st_size < 4 * 2**20  # a few MB at most


def test_registry_standin_reaches_recorded_accuracy(fashion, meta):
    pre = weights.load("resnet18_imagenet", mode="standin")
    assert pre.is_standin and pre.dataset == "FashionMNIST"
    assert all(p.dtype == torch.float32 for p in pre.model.parameters())
    assert not pre.model.training
    X = torch.stack([pre.preprocess(image.numpy()) for image in fashion.test_images])
    with torch.no_grad():
        predicted = torch.cat([pre.model(X[i:i + 1000]).argmax(1) for i in range(0, len(X), 1000)])
    accuracy = (predicted == fashion.test_labels).float().mean().item()
    assert abs(accuracy - meta["test_accuracy"]) <= 0.002, (accuracy, meta["test_accuracy"])


def test_own_loader_matches_the_architecture(meta):
    model, loaded_meta = standins.load()
    assert loaded_meta == meta
    reference = models.fashion_resnet()
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in reference.named_parameters()]
    trunk = torch.nn.Sequential(*list(model.children())[:-2])
    assert trunk(torch.zeros(1, 1, 28, 28)).shape == (1, 64, 7, 7)


def test_own_loader_refuses_altered_weights(tmp_path, meta):
    (tmp_path / meta["file"]).write_bytes((standins.FOLDER / meta["file"]).read_bytes() + b"x")
    (tmp_path / standins.META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(RuntimeError, match="sha256"):
        standins.load(tmp_path)
