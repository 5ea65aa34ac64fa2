"""Chapter 6's online path, offline: the ants-and-bees archive and ImageNet's ResNet-18 from 127.0.0.1.

A surrogate ``hymenoptera_data.zip`` in the real layout (``hymenoptera_data/{train,val}/
{ants,bees}/*.jpg``, with exactly the published number of images per split: 244 and 153
tiny JPEGs) and a random-weights ResNet-18 under the name torchvision gives it are served
as a ``RESNETBOOK_MIRROR`` with a ``SHA256SUMS`` manifest. The tests run fetch -> verify ->
unpack -> ImageFolder -> a short fine-tuning -> predictions, and the failures: a truncated
zip, a wrong layout, the wrong size from the publisher.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from hymenoptera_fixtures import PER_CLASS, write_zip
from support import closed_port_url, serve
from weights_fixtures import sha256_of
from resnetbook import download, hymenoptera, remote, transfer

def serve_folder(folder: Path, monkeypatch, request):
    names = [p.name for p in folder.iterdir() if p.name != remote.MIRROR_MANIFEST]
    (folder / remote.MIRROR_MANIFEST).write_text("".join(f"{sha256_of((folder / n).read_bytes())}  {n}\n" for n in names))
    url, server = serve(folder)
    request.addfinalizer(lambda: (server.shutdown(), server.server_close()))
    monkeypatch.setenv(remote.MIRROR_VAR, url + "/")
    return server


@pytest.fixture(scope="module")
def surrogate_files(tmp_path_factory) -> Path:
    """The surrogate zip and a random-weights ResNet-18 under torchvision's file name."""
    folder = tmp_path_factory.mktemp("mirror")
    write_zip(folder / hymenoptera.HYMENOPTERA.file.filename)
    torch.manual_seed(18)
    name = remote.torchvision_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1).filename
    torch.save(torchvision.models.resnet18().state_dict(), folder / name)
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RESNETBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "data" / hymenoptera.DATA_DIR


def test_online_path_end_to_end(surrogate_files, cache, monkeypatch, request) -> None:
    serve_folder(surrogate_files, monkeypatch, request)
    mirror = remote.mirror_base()
    online, note = hymenoptera.load_online("pretrained", progress=False)
    assert online is not None and note == online.note
    assert "Pretrained weights: ResNet-18" in note and "244 train, 153 val images in classes ants and bees" in note
    assert f"hymenoptera_data.zip, here from the mirror {mirror}" in note
    folder = cache / "hymenoptera_data"
    assert hymenoptera.image_counts(folder) == PER_CLASS
    assert sorted(p.name for p in cache.iterdir()) == ["hymenoptera_data", "hymenoptera_data.zip"]  # no temp left
    train, val = online.folders["train"], online.folders["val"]
    assert train.classes == val.classes == ["ants", "bees"] and (len(train), len(val)) == (244, 153)
    assert train[0][0].shape == val[0][0].shape == (3, 224, 224)
    model = transfer.new_head(online.pretrained.model, len(train.classes))
    loaders = hymenoptera.loaders(online.folders, batch_size=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = hymenoptera.train_epochs(model, loaders["train"], epochs=1, max_batches=2)
    assert len(losses) == 1 and np.isfinite(losses[0])
    assert not torch.equal(before["layer1.0.conv1.weight"], model.state_dict()["layer1.0.conv1.weight"])
    predicted, truth = hymenoptera.predict(model, loaders["val"], max_batches=2)
    assert predicted.shape == truth.shape == (8,) and set(predicted.tolist()) <= {0, 1}
    picked = hymenoptera.pick_examples(torch.tensor([0, 1, 1, 0, 1]), torch.tensor([0, 1, 0, 0, 0]), n=4)
    assert len(picked) == 4 and {2, 4} <= set(picked) and len(set(picked)) == 4  # both mistakes shown
    image = hymenoptera.display_image(val, 0)
    assert image.shape == (224, 224, 3) and 0 <= image.min() and image.max() <= 1
    # A second call uses the cache: the server may be gone.
    monkeypatch.setenv(remote.MIRROR_VAR, closed_port_url())
    monkeypatch.setattr(remote, "located", lambda files: pytest.fail("the cache was not used"))
    assert hymenoptera.fetch_archive(progress=False) == folder


def test_show_predictions_draws_titles(surrogate_files, cache, monkeypatch, request) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    serve_folder(surrogate_files, monkeypatch, request)
    folder = hymenoptera.image_folders(hymenoptera.fetch_archive(progress=False))["val"]
    fig, axes = plt.subplots(1, 3)
    hymenoptera.show_predictions(axes, folder, [0, 1, 152], [0, 1, 0])
    assert [ax.get_title() for ax in axes] == ["ants\n(is ants)", "bees\n(is ants)", "ants\n(is bees)"]
    assert axes[1].title.get_color() == "red" and axes[0].title.get_color() == "black"
    with pytest.raises(ValueError, match="4 images, 4 predictions for 3 axes"):
        hymenoptera.show_predictions(axes, folder, [0, 1, 2, 3], [0, 0, 0, 0])
    plt.close(fig)


def _assert_no_cache_entry(cache: Path) -> None:
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert left == [], left


def test_truncated_zip_is_a_clear_error_and_leaves_nothing(tmp_path, cache, monkeypatch, request) -> None:
    whole = write_zip(tmp_path / "whole.zip").read_bytes()
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "hymenoptera_data.zip").write_bytes(whole[: len(whole) // 2])  # the manifest vouches for these bytes
    serve_folder(folder, monkeypatch, request)
    with pytest.raises(hymenoptera.DatasetLayoutError, match="not a readable zip archive .* cut short"):
        hymenoptera.fetch_archive(progress=False)
    _assert_no_cache_entry(cache)


def test_cut_download_is_a_clear_error_and_leaves_nothing(tmp_path, cache, monkeypatch, request) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    write_zip(folder / "hymenoptera_data.zip")
    serve_folder(folder, monkeypatch, request).truncated.add("/hymenoptera_data.zip")
    with pytest.raises(download.DownloadError, match="truncated"):
        hymenoptera.fetch_archive(progress=False)
    _assert_no_cache_entry(cache)


def test_corrupt_member_is_a_clear_error(tmp_path, cache, monkeypatch, request) -> None:
    data = bytearray(write_zip(tmp_path / "whole.zip").read_bytes())
    at = data.index(b"\xff\xd8\xff") + 200  # inside the first JPEG's stored bytes
    data[at:at + 16] = bytes(16)
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "hymenoptera_data.zip").write_bytes(bytes(data))
    serve_folder(folder, monkeypatch, request)
    with pytest.raises(hymenoptera.DatasetLayoutError, match="fails its CRC check"):
        hymenoptera.fetch_archive(progress=False)
    _assert_no_cache_entry(cache)


@pytest.mark.parametrize("layout, message", [
    ({"train": {"ants": 123}, "val": {"ants": 70, "bees": 83}},
     "hymenoptera_data/train/ holds the class folders \\['ants'\\], expected \\['ants', 'bees'\\]"),
    ({"train": {"ants": 123, "bees": 120}, "val": {"ants": 70, "bees": 83}},
     "hymenoptera_data/train/ holds 243 images, expected 244"),
    ({"train": {"ants": 244, "bees": 0}, "val": {"ants": 70, "bees": 83}}, "hymenoptera_data/train/bees/ holds no images"),
    ({"train": {"ants": 123, "bees": 121}}, "hymenoptera_data/val/ holds the class folders \\[\\]"),
])
def test_wrong_layout_is_a_clear_error(layout, message, tmp_path, cache, monkeypatch, request) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    write_zip(folder / "hymenoptera_data.zip", layout)
    serve_folder(folder, monkeypatch, request)
    with pytest.raises(hymenoptera.DatasetLayoutError, match=message):
        hymenoptera.fetch_archive(progress=False)
    _assert_no_cache_entry(cache)


def test_wrong_top_folder(tmp_path, cache, monkeypatch, request) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    write_zip(folder / "hymenoptera_data.zip", root="data")
    serve_folder(folder, monkeypatch, request)
    with pytest.raises(hymenoptera.DatasetLayoutError, match="no top folder hymenoptera_data/"):
        hymenoptera.fetch_archive(progress=False)
    _assert_no_cache_entry(cache)


def test_publisher_size_is_checked(tmp_path, cache, monkeypatch, request) -> None:
    """Without a mirror the file comes from its publisher's URL, and its size is what is checked."""
    folder = tmp_path / "publisher"
    folder.mkdir()
    write_zip(folder / "hymenoptera_data.zip")
    url, server = serve(folder)
    request.addfinalizer(lambda: (server.shutdown(), server.server_close()))
    monkeypatch.delenv(remote.MIRROR_VAR, raising=False)
    archive = dataclasses.replace(hymenoptera.HYMENOPTERA, file=remote.RemoteFile(
        f"{url}/hymenoptera_data.zip", "hymenoptera_data.zip", ""))
    with pytest.raises(hymenoptera.DatasetLayoutError, match="bytes, but the published archive has 47286322"):
        hymenoptera.fetch_archive(archive, progress=False)
    _assert_no_cache_entry(cache)
    assert hymenoptera.archive_source(archive).endswith("(the publisher gives no checksum: its size (47,286,322 bytes) checked)")
    right = dataclasses.replace(archive, size=(folder / "hymenoptera_data.zip").stat().st_size)
    assert hymenoptera.image_counts(hymenoptera.fetch_archive(right, progress=False)) == PER_CLASS


@pytest.mark.parametrize("mode", ["auto", "standin", "pretrained"])
def test_modes_without_a_network(mode, cache, monkeypatch) -> None:
    monkeypatch.setenv(remote.MIRROR_VAR, closed_port_url())
    if mode == "pretrained":
        with pytest.raises(download.DownloadError, match="Could not download"):
            hymenoptera.load_online(mode, progress=False)
        return
    online, note = hymenoptera.load_online(mode, progress=False)
    assert online is None and "this page runs only the offline task" in note
    assert ("RESNETBOOK_WEIGHTS=standin was set" in note) == (mode == "standin")
    assert ("could not be loaded in this build" in note) == (mode == "auto")
    assert "/tmp" not in note and "To fix it" not in note


def test_auto_without_the_archive_on_the_mirror_says_why(surrogate_files, tmp_path, cache, monkeypatch, request) -> None:
    """The weights load, the photos do not: auto falls back to the offline task and names the missing file."""
    folder = tmp_path / "weights-only"
    folder.mkdir()
    for path in surrogate_files.glob("*.pth"):
        (folder / path.name).write_bytes(path.read_bytes())
    serve_folder(folder, monkeypatch, request)
    online, note = hymenoptera.load_online("auto", progress=False)
    assert online is None and "lists no sha256 for hymenoptera_data.zip" in note
    with pytest.raises(download.DownloadError, match="lists no sha256 for hymenoptera_data.zip"):
        hymenoptera.load_online("pretrained", progress=False)
    _assert_no_cache_entry(cache)
