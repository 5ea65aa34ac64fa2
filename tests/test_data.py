"""Tests of resnetbook.data: IDX parsing, cache -> Debian -> mirror resolution."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from idx_fixtures import SPLITS, idx_bytes, write_fake_debian

from resnetbook import data


@pytest.fixture(autouse=True)
def _fresh_process_cache():
    data.clear_cache()
    yield
    data.clear_cache()


@pytest.fixture
def fake(tmp_path):
    """A fake Debian folder with tiny .gz files and an empty cache root."""
    debian = tmp_path / "debian"
    arrays, md5s = write_fake_debian(debian)
    return {"debian": debian, "arrays": arrays, "md5s": md5s, "root": tmp_path / "cache"}


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def load(fake, **kwargs):
    kwargs.setdefault("mirrors", [closed_port_url()])
    kwargs.setdefault("debian_dir", fake["debian"])
    return data.load_fashion_mnist(fake["root"], md5s=fake["md5s"], **kwargs)


def raw_dir(fake) -> Path:
    return fake["root"] / "FashionMNIST" / "raw"


def assert_matches_fixture(ds: data.FashionMNIST, arrays) -> None:
    for split, attr in (("train", "train"), ("t10k", "test")):
        images, labels = getattr(ds, f"{attr}_images"), getattr(ds, f"{attr}_labels")
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert images.shape == (SPLITS[split], 28, 28)
        np.testing.assert_array_equal(images.numpy(), arrays[f"{split}-images-idx3-ubyte"])
        np.testing.assert_array_equal(labels.numpy(), arrays[f"{split}-labels-idx1-ubyte"])


def test_classes_and_mirrors_match_torchvision():
    assert data.CLASSES == tuple(torchvision.datasets.FashionMNIST.classes)
    assert data.MIRRORS == tuple(torchvision.datasets.FashionMNIST.mirrors)
    assert set(data.RAW_MD5) == {
        Path(f).with_suffix("").name for f, _ in torchvision.datasets.FashionMNIST.resources
    }


def test_default_root_env_and_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RESNETBOOK_DATA", str(tmp_path / "d"))
    assert data.default_root() == tmp_path / "d"
    monkeypatch.delenv("RESNETBOOK_DATA")
    assert data.default_root() == Path.home() / ".cache" / "resnetbook" / "data"


def test_parse_idx_roundtrip():
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(images)), images)
    labels = np.array([9, 0, 4], dtype=np.uint8)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(labels)), labels)


GOOD = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"\x00\x00", "too short"),
        ((1234).to_bytes(4, "big") + GOOD[4:], "magic number 1234"),
        (GOOD[:10], "header truncated"),
        (GOOD[:-1], "truncated or corrupt"),
        (GOOD + b"\x00", "truncated or corrupt"),
    ],
    ids=["short", "magic", "header", "payload-short", "payload-long"],
)
def test_parse_idx_rejects_malformed(blob, message):
    with pytest.raises(data.IdxFormatError, match=message):
        data.parse_idx(blob, "demo")


def test_debian_folder_is_decompressed_into_cache(fake):
    ds = load(fake)
    assert_matches_fixture(ds, fake["arrays"])
    assert ds.classes == data.CLASSES
    names = sorted(p.name for p in raw_dir(fake).iterdir() if not p.name.startswith("."))
    assert names == sorted(fake["md5s"])
    assert not list(raw_dir(fake).glob("*.part")) and not list(raw_dir(fake).glob(".*.part"))
    for name, md5 in fake["md5s"].items():
        assert hashlib.md5((raw_dir(fake) / name).read_bytes()).hexdigest() == md5


def test_torchvision_reads_the_cache_layout(fake):
    ds = load(fake)
    tv = torchvision.datasets.FashionMNIST(str(fake["root"]), train=False, download=False)
    assert torch.equal(tv.data, ds.test_images)
    assert torch.equal(tv.targets, ds.test_labels)


def test_second_load_uses_cache_without_source_or_rehash(fake, monkeypatch):
    mirrors = [closed_port_url()]
    first = load(fake, mirrors=mirrors)
    assert load(fake, mirrors=mirrors) is first  # in-process cache
    data.clear_cache()
    for gz in fake["debian"].iterdir():
        gz.unlink()
    calls = []
    original = data._md5_file
    monkeypatch.setattr(data, "_md5_file", lambda p: calls.append(p) or original(p))
    second = load(fake, download=False)
    assert calls == []  # size+mtime stamp says the files were verified
    assert_matches_fixture(second, fake["arrays"])


def test_corrupt_cache_file_is_reported_and_replaced(fake):
    load(fake)
    data.clear_cache()
    target = raw_dir(fake) / "train-images-idx3-ubyte"
    blob = bytearray(target.read_bytes())
    blob[100] ^= 0xFF
    time.sleep(0.01)  # make sure the mtime moves on coarse clocks
    target.write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match="train-images-idx3-ubyte has md5"):
        ds = load(fake)
    assert_matches_fixture(ds, fake["arrays"])
    assert hashlib.md5(target.read_bytes()).hexdigest() == fake["md5s"]["train-images-idx3-ubyte"]


def test_missing_everywhere_and_offline_names_every_fix(fake):
    for gz in fake["debian"].iterdir():
        gz.unlink()
    url = closed_port_url()
    with pytest.raises(data.DatasetNotFoundError) as info:
        load(fake, mirrors=[url])
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert f"{url}train-images-idx3-ubyte.gz" in message
    assert str(fake["debian"]) in message
    assert str(raw_dir(fake)) in message
    assert "RESNETBOOK_DATA" in message
    assert list(raw_dir(fake).iterdir()) == []  # nothing half-written


def test_download_false_does_not_touch_mirrors(fake):
    (fake["debian"] / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DatasetNotFoundError, match="download was disabled"):
        load(fake, download=False, mirrors=["http://never.invalid/"])


def test_bad_debian_file_is_not_installed(fake):
    gz = fake["debian"] / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(b"not the right bytes"))
    with pytest.raises(data.DatasetNotFoundError, match="decompressed md5"):
        load(fake)
    assert not (raw_dir(fake) / "t10k-images-idx3-ubyte").exists()
    assert [p.name for p in raw_dir(fake).iterdir() if p.name.endswith(".part")] == []


def test_truncated_debian_gz_is_a_clear_error(fake):
    gz = fake["debian"] / "train-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:20])
    with pytest.raises(data.DatasetNotFoundError, match="train-labels-idx1-ubyte"):
        load(fake)
    assert not (raw_dir(fake) / "train-labels-idx1-ubyte").exists()


def test_malformed_idx_with_matching_md5_fails_clearly(fake):
    name = "t10k-labels-idx1-ubyte"
    blob = idx_bytes(np.zeros(10, dtype=np.uint8))[:-3]  # payload cut short
    (fake["debian"] / f"{name}.gz").write_bytes(gzip.compress(blob))
    fake["md5s"][name] = hashlib.md5(blob).hexdigest()
    with pytest.raises(data.IdxFormatError, match="t10k-labels.*truncated"):
        load(fake)


def test_md5s_must_name_the_four_files(fake):
    with pytest.raises(ValueError, match="exactly the keys"):
        data.load_fashion_mnist(fake["root"], md5s={"train-images-idx3-ubyte": "0" * 32})


@contextlib.contextmanager
def http_mirror(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1; yield the mirror URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_from_mirror(fake, tmp_path):
    """The download path, against a local HTTP server serving the .gz files."""
    with http_mirror(fake["debian"]) as mirror:
        ds = load(fake, debian_dir=tmp_path / "no-debian-here", mirrors=[closed_port_url(), mirror])
    assert_matches_fixture(ds, fake["arrays"])
    assert sorted(p.name for p in raw_dir(fake).iterdir()) == sorted([*fake["md5s"], data._STAMP])


def test_mirror_without_the_files_is_reported(fake, tmp_path):
    (tmp_path / "empty").mkdir()
    with http_mirror(tmp_path / "empty") as mirror:
        with pytest.raises(data.DatasetNotFoundError, match=f"{mirror}train-images-idx3-ubyte.gz.*404"):
            load(fake, debian_dir=tmp_path / "no-debian-here", mirrors=[mirror])
    assert list(raw_dir(fake).iterdir()) == []


def test_sample_images_are_bundled_rgb_photos(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("sample_images tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    data._read_samples.cache_clear()
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
