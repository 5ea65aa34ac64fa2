"""The committed stand-in weights load through the registry and reach their recorded accuracy."""

import pytest
import torch

from resnetbook import data, standins, weights


@pytest.fixture(scope="module")
def fashion():
    try:
        return data.load_fashion_mnist(download=False)
    except data.DatasetNotFoundError as error:
        pytest.skip(f"FashionMNIST files are absent here, so the accuracy cannot be checked: {error}")


@pytest.fixture(scope="module")
def meta() -> dict:
    return standins.read_meta()


def test_json_records_the_recipe(meta):
    for key in ("file", "sha256", "test_accuracy", "seed", "recipe", "mean", "std", "epochs", "architecture"):
        assert key in meta
    assert meta["recipe"]["seed"] == meta["seed"] and meta["recipe"]["epochs"] == meta["epochs"]
    assert 0.92 <= meta["test_accuracy"] <= 1
    assert (standins.FOLDER / meta["file"]).stat().st_size < 4 * 2**20  # a few MB at most


def test_registry_standin_reaches_recorded_accuracy(fashion, meta):
    pre = weights.load("resnet18_imagenet", mode="standin")
    assert pre.is_standin and pre.dataset == "FashionMNIST" and pre.categories == list(data.CLASSES)
    assert all(p.dtype == torch.float32 for p in pre.model.parameters())
    assert not pre.model.training
    X = torch.stack([pre.preprocess(image.numpy()) for image in fashion.test_images])
    with torch.no_grad():
        predicted = torch.cat([pre.model(X[i:i + 1000]).argmax(1) for i in range(0, len(X), 1000)])
    accuracy = (predicted == fashion.test_labels).float().mean().item()
    assert abs(accuracy - meta["test_accuracy"]) <= 0.002, (accuracy, meta["test_accuracy"])
    examples = pre.examples(3)  # the first test images, as the chapters show them
    assert [e.label for e in examples] == fashion.test_labels[:3].tolist()
    assert torch.equal(torch.stack([e.input for e in examples]), X[:3])
