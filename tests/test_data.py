"""Tests of resnetbook.data: Debian's files verified into torchvision's layout, torchvision's download, the advice."""

from __future__ import annotations

import gzip
import hashlib
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision
from support import closed_port_url

from resnetbook import data
from resnetbook.download import file_digest

SPLITS = {"train": 20, "t10k": 10}  # images per split in the fixture


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array of 1 (labels) or 3 (images) dimensions as IDX."""
    magic = {1: 2049, 3: 2051}[array.ndim]
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()


def write_fake_debian(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Write tiny FashionMNIST-shaped ``<name>.gz`` files; return (arrays, md5 of each decompressed file)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays, md5s = {}, {}
    for split, n in SPLITS.items():
        arrays[f"{split}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}-labels-idx1-ubyte"] = (np.arange(n) % 10).astype(np.uint8)
    for name, array in arrays.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
        md5s[name] = hashlib.md5(idx_bytes(array)).hexdigest()
    return arrays, md5s


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Tiny files in a fake Debian folder, their md5s as data.RAW_MD5, an empty cache, no reachable mirror."""
    data.clear_cache()
    arrays, md5s = write_fake_debian(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(data, "RAW_MD5", md5s)
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [closed_port_url()])
    yield SimpleNamespace(debian=tmp_path / "debian", arrays=arrays, md5s=md5s, root=tmp_path / "cache",
                          raw=tmp_path / "cache" / "FashionMNIST" / "raw")
    data.clear_cache()


def assert_matches_fixture(ds: data.FashionMNIST, arrays) -> None:
    for split, attr in (("train", "train"), ("t10k", "test")):
        images, labels = getattr(ds, f"{attr}_images"), getattr(ds, f"{attr}_labels")
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert images.shape == (SPLITS[split], 28, 28)
        np.testing.assert_array_equal(images.numpy(), arrays[f"{split}-images-idx3-ubyte"])
        np.testing.assert_array_equal(labels.numpy(), arrays[f"{split}-labels-idx1-ubyte"])


def test_default_root_env_and_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RESNETBOOK_DATA", str(tmp_path / "d"))
    assert data.default_root() == tmp_path / "d"
    monkeypatch.delenv("RESNETBOOK_DATA")
    assert data.default_root() == Path.home() / ".cache" / "resnetbook" / "data"


def test_debian_files_are_verified_into_the_cache_then_loaded_from_it(fake):
    ds = data.load_fashion_mnist(fake.root, download=False)
    assert_matches_fixture(ds, fake.arrays)
    assert ds.classes == data.CLASSES and len(data.CLASSES) == 10
    assert sorted(p.name for p in fake.raw.iterdir()) == sorted(fake.md5s)  # no temporary files left
    assert {name: file_digest(fake.raw / name, "md5") for name in fake.md5s} == fake.md5s
    assert data.load_fashion_mnist(fake.root, download=False) is ds  # decoded once per process
    data.clear_cache()
    for gz in fake.debian.iterdir():
        gz.unlink()
    assert_matches_fixture(data.load_fashion_mnist(fake.root, download=False), fake.arrays)  # the cache alone


def test_a_damaged_cache_file_is_replaced_from_debian(fake):
    data.load_fashion_mnist(fake.root, download=False)
    data.clear_cache()
    target = fake.raw / "train-images-idx3-ubyte"
    blob = bytearray(target.read_bytes())
    blob[100] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match=f"{target} has md5 {hashlib.md5(blob).hexdigest()}"):
        ds = data.load_fashion_mnist(fake.root, download=False)
    assert_matches_fixture(ds, fake.arrays)
    assert file_digest(target, "md5") == fake.md5s["train-images-idx3-ubyte"]


def test_a_damaged_debian_file_is_refused_and_nothing_is_installed(fake):
    gz = fake.debian / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(b"not the right bytes"))
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_fashion_mnist(fake.root)
    assert str(info.value) == (
        f"Debian's {gz} is damaged: it decompresses to md5 {hashlib.md5(b'not the right bytes').hexdigest()}, "
        f"expected {fake.md5s['t10k-images-idx3-ubyte']}. Reinstall it with "
        "`sudo apt-get install --reinstall dataset-fashion-mnist`.")
    assert "t10k-images-idx3-ubyte" not in [p.name for p in fake.raw.iterdir()]
    assert not [p for p in fake.raw.iterdir() if p.name.endswith(".part")]


def test_a_truncated_debian_file_is_refused(fake):
    gz = fake.debian / "train-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:20])
    with pytest.raises(data.DatasetNotFoundError, match=f"{gz} is damaged: it cannot be decompressed"):
        data.load_fashion_mnist(fake.root)
    assert not (fake.raw / "train-labels-idx1-ubyte").exists()


def test_missing_data_without_network_says_what_to_do(fake):
    (fake.debian / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_fashion_mnist(fake.root)
    message = str(info.value)
    assert f"neither in {fake.raw} nor in Debian's folder {fake.debian}, and torchvision could not download" in message
    mirror = torchvision.datasets.FashionMNIST.mirrors[0]
    assert f"Tried {mirror}, got:\n<urlopen error " in message  # the cause
    assert "`sudo apt-get install dataset-fashion-mnist`" in message and "RESNETBOOK_DATA" in message


def test_download_false_never_touches_the_network(fake, server, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [server.url("/")])
    (fake.debian / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DatasetNotFoundError, match="and download=False: Dataset not found"):
        data.load_fashion_mnist(fake.root, download=False)
    assert server.requests == []


def test_a_mirror_that_does_not_answer_times_out(fake, server, monkeypatch):
    (fake.debian / "train-images-idx3-ubyte.gz").rename(server.folder / "train-images-idx3-ubyte.gz")
    server.httpd.delays["/train-images-idx3-ubyte.gz"] = 2.0
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [server.url("/")])
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 0.3)
    start = time.perf_counter()
    with pytest.raises(data.DatasetNotFoundError, match="torchvision could not download it: timed out"):
        data.load_fashion_mnist(fake.root)
    assert time.perf_counter() - start < 1.5


def test_without_debian_torchvision_downloads_from_its_mirrors(fake, server, monkeypatch):
    for gz in fake.debian.iterdir():
        gz.rename(server.folder / gz.name)
    resources = [(gz.name, file_digest(gz, "md5")) for gz in sorted(server.folder.iterdir())]
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "resources", resources)
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [closed_port_url(), server.url("/")])
    assert_matches_fixture(data.load_fashion_mnist(fake.root), fake.arrays)
    assert set(server.requests) == {f"/{name}.gz" for name in fake.md5s}


def test_sample_images_are_bundled_rgb_photos(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("sample_images tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    data._read_samples.cache_clear()  # read the files now, under the patch
    images = data.sample_images()
    assert 5 <= len(images) <= 8
    for name, image in images.items():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
        assert min(image.shape[:2]) >= 200 and image.std() > 10, name
    images["cat"][:] = 0  # callers get copies
    assert data.sample_images()["cat"].any()


REAL = data.DEBIAN_DIR / "train-images-idx3-ubyte.gz"


@pytest.mark.skipif(not REAL.exists(), reason=f"{data.DEBIAN_PACKAGE} not installed ({REAL} missing)")
def test_real_debian_fashion_mnist(tmp_path):
    ds = data.load_fashion_mnist(tmp_path, download=False)
    assert ds.train_images.shape == (60000, 28, 28) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (10000, 28, 28) and ds.test_images.dtype == torch.uint8
    assert ds.train_labels.dtype == torch.int64 and ds.test_labels.dtype == torch.int64
    assert ds.train_labels.bincount().tolist() == [6000] * 10
    assert ds.test_labels.bincount().tolist() == [1000] * 10
    assert {name: file_digest(tmp_path / "FashionMNIST" / "raw" / name, "md5") for name in data.RAW_MD5} == \
        data.RAW_MD5
