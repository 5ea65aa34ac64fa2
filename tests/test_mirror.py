"""Tests of RESNETBOOK_MIRROR: every online file from one base URL, checked against its SHA256SUMS."""

from __future__ import annotations

import dataclasses
import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image

from resnetbook import visualize, weights
from resnetbook.download import DownloadError
from support import closed_port_url
from test_weights import PLACES_TEXT, TinyNet, standin_entry, trained_state  # noqa: F401 (a fixture)

CKPT = "resnet18-f37072fd.pth"  # the published name; the tiny checkpoint served under it is not that file


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(**files: bytes) -> bytes:
    """``sha256sum`` output for the given {name: bytes} (a ``*`` marks binary mode, as sha256sum -b writes)."""
    return "".join(f"{sha256_of(body)} *{name}\n" for name, body in files.items()).encode()


@pytest.fixture
def tiny_bytes(tmp_path) -> bytes:
    torch.save(trained_state(), tmp_path / "tiny.pth")
    return (tmp_path / "tiny.pth").read_bytes()


@pytest.fixture
def registry(standin_entry, tmp_path, monkeypatch) -> dict[str, weights.Entry]:  # noqa: F811
    """The real entries with tiny models, their publishers unreachable; TORCH_HOME in tmp."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    real = weights.default_registry()
    unreachable = closed_port_url("/")
    return {
        "resnet18_imagenet": dataclasses.replace(
            real["resnet18_imagenet"], build=TinyNet, categories=("a", "b", "c", "d"),
            checkpoint=dataclasses.replace(real["resnet18_imagenet"].checkpoint, url=unreachable + CKPT)),
        "resnet50_places365": dataclasses.replace(
            real["resnet50_places365"], build=TinyNet,
            checkpoint=dataclasses.replace(real["resnet50_places365"].checkpoint,
                                           url=unreachable + "resnet50_places365.pth.tar"),
            categories=dataclasses.replace(real["resnet50_places365"].categories,
                                           url=unreachable + "categories_places365.txt")),
        "fashion_resnet_standin": standin_entry,
    }


def cached(tmp_path) -> list[str]:
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_mirror_serves_each_file_by_name_checked_against_its_manifest(registry, server, tiny_bytes,  # noqa: F811
                                                                      tmp_path, monkeypatch):
    server.add(f"/m/{CKPT}", tiny_bytes)
    server.add("/m/SHA256SUMS", manifest(**{CKPT: tiny_bytes}))
    monkeypatch.setenv(weights.MIRROR_VAR, server.url("/m"))  # the trailing slash is optional
    pre = weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert not pre.is_standin and server.requests == ["/m/SHA256SUMS", f"/m/{CKPT}"]
    for key, value in pre.model.state_dict().items():
        assert torch.equal(value, trained_state()[key]), key
    assert f"from the mirror {server.url('/m/')} (RESNETBOOK_MIRROR), sha256 {sha256_of(tiny_bytes)[:8]}…" \
        in pre.provenance
    assert "not the published file, whose sha256 begins f37072fd" in pre.provenance
    assert cached(tmp_path) == [CKPT]
    weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert server.requests[2:] == ["/m/SHA256SUMS"]  # the manifest is read afresh, the file is cached


def test_mirror_with_the_published_file_says_so(registry, server, tiny_bytes, monkeypatch):  # noqa: F811
    name = f"resnet18-{sha256_of(tiny_bytes)[:8]}.pth"  # as torchvision names a file after its digest
    entry = registry["resnet18_imagenet"]
    registry["resnet18_imagenet"] = dataclasses.replace(entry, checkpoint=dataclasses.replace(
        entry.checkpoint, filename=name, sha256=sha256_of(tiny_bytes)[:8]))
    server.add(f"/{name}", tiny_bytes)
    server.add("/SHA256SUMS", manifest(**{name: tiny_bytes}))
    monkeypatch.setenv(weights.MIRROR_VAR, server.url("/"))
    pre = weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert pre.provenance.endswith(": the published file).")


def test_places365_checkpoint_and_categories_both_come_from_the_mirror(registry, server, tmp_path,  # noqa: F811
                                                                       monkeypatch):
    torch.save({"state_dict": {f"module.{k}": v for k, v in trained_state().items()}, "epoch": 3},
               tmp_path / "places.pth.tar", _use_new_zipfile_serialization=False, pickle_protocol=2)
    files = {"resnet50_places365.pth.tar": (tmp_path / "places.pth.tar").read_bytes(),
             "categories_places365.txt": PLACES_TEXT.encode()}
    for name, body in files.items():
        server.add(f"/{name}", body)
    server.add("/SHA256SUMS", b"# made with sha256sum\n\n" + manifest(**files))
    monkeypatch.setenv(weights.MIRROR_VAR, server.url("/"))
    pre = weights.load("resnet50_places365", "pretrained", registry=registry, progress=False)
    assert pre.categories == ["airfield", "bar", "subway station (platform)", "amusement park"]
    assert server.requests == ["/SHA256SUMS", "/resnet50_places365.pth.tar", "/categories_places365.txt"]


def test_a_wrong_checksum_on_the_mirror_is_refused(registry, server, tiny_bytes, tmp_path,  # noqa: F811
                                                   monkeypatch):
    server.add(f"/{CKPT}", tiny_bytes)
    server.add("/SHA256SUMS", manifest(**{CKPT: tiny_bytes + b"other bytes"}))
    monkeypatch.setenv(weights.MIRROR_VAR, server.url("/"))
    with pytest.raises(DownloadError, match=f'invalid hash value .expected "{sha256_of(tiny_bytes + b"other bytes")}", got "{sha256_of(tiny_bytes)}"'):
        weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    assert cached(tmp_path) == []


def test_a_file_missing_from_the_manifest_is_a_clear_error(registry, server, tiny_bytes,  # noqa: F811
                                                           monkeypatch, capsys):
    server.add(f"/{CKPT}", tiny_bytes)
    server.add("/SHA256SUMS", manifest(**{"another-file.pth": tiny_bytes}))
    monkeypatch.setenv(weights.MIRROR_VAR, server.url("/"))
    with pytest.raises(DownloadError) as info:
        weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    message = str(info.value)
    assert f"lists no sha256 for {CKPT} in its SHA256SUMS" in message and "sha256sum" in message
    assert server.requests == ["/SHA256SUMS"]  # nothing unverifiable was downloaded
    # auto mode: the stand-in, and its note gives the cause
    pre = weights.load("resnet18_imagenet", registry=registry, progress=False)
    assert pre.is_standin and "lists no sha256 for" in pre.provenance


def test_a_missing_or_malformed_manifest_is_a_clear_error(registry, server, monkeypatch):  # noqa: F811
    monkeypatch.setenv(weights.MIRROR_VAR, server.url("/"))
    with pytest.raises(DownloadError, match="Could not download .*/SHA256SUMS: HTTP Error 404"):
        weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)
    server.add("/SHA256SUMS", f"f37072fd  {CKPT}\n".encode())  # a prefix is not a checksum list
    with pytest.raises(DownloadError, match="not in sha256sum's format: line 1"):
        weights.load("resnet18_imagenet", "pretrained", registry=registry, progress=False)


def test_parse_sha256sums_and_mirror_base(monkeypatch):
    digest = "ab" * 32
    assert weights.parse_sha256sums(f"{digest.upper()}  a b.txt\n# note\n\n{digest} *c.pth\n") == {
        "a b.txt": digest, "c.pth": digest}
    with pytest.raises(ValueError, match="line 2"):
        weights.parse_sha256sums(f"{digest}  a\n{digest}a\n")
    with pytest.raises(ValueError, match="second, different sha256"):
        weights.parse_sha256sums(f"{digest}  a\n{'cd' * 32}  a\n")
    monkeypatch.delenv(weights.MIRROR_VAR, raising=False)
    assert weights.mirror_base() is None
    monkeypatch.setenv(weights.MIRROR_VAR, " http://host:8000/files// ")
    assert weights.mirror_base() == "http://host:8000/files/"
    monkeypatch.setenv(weights.MIRROR_VAR, "host:8000/files")
    with pytest.raises(ValueError, match="RESNETBOOK_MIRROR must be an http"):
        weights.mirror_base()
    files = [weights.RemoteFile("https://example.org/x.pth", "x.pth", "12345678")]
    monkeypatch.setenv(weights.MIRROR_VAR, "")
    assert weights.located(files) == files  # no mirror: as published


def test_places365_photo_comes_with_credit_and_regions(server, tmp_path, monkeypatch):  # noqa: F811
    buffer = io.BytesIO()
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(buffer, format="JPEG")
    server.add("/mountains.jpg", buffer.getvalue())
    server.add("/SHA256SUMS", manifest(**{"mountains.jpg": buffer.getvalue()}))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(weights.MIRROR_VAR, server.url("/"))
    (photo,) = weights.places365_photo_examples(5, weights.places365_preprocess)
    assert photo.name == "mountains.jpg" and photo.image.shape == (60, 80, 3) and photo.image.flags.writeable
    assert photo.input.shape == (3, 256, 256) and "CSAILVision/places365" in photo.credit
    assert set(photo.regions) == {"sky", "snow-capped peaks", "valley floor"}
    masks = [visualize.band_mask((8, 8), *box) for box in photo.regions.values()]  # chapter 4's 8 x 8 maps
    assert all(mask.any() for mask in masks) and int(sum(m.int() for m in masks).max()) == 1  # disjoint
    assert weights.default_registry()["resnet50_places365"].examples is weights.places365_photo_examples
    assert weights.PLACES365_PHOTO.sha256 == "0092e75ff5c21dd19ef8ceed3bb21f1b25c012d8d810b359ed5b63677dff605f"
