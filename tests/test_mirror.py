"""Tests of RESNETBOOK_MIRROR: every online file from one base URL, checked against its SHA256SUMS."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from resnetbook import examples, remote, visualize, weights
from resnetbook.download import DownloadError
from weights_fixtures import (PLACES_NAMES, PLACES_TEXT, TinyNet, assert_same_weights, cached, saved,
                              served, sha256_of, standin_entry, torch_home, trained_state)  # noqa: F401 (fixtures)

CKPT = "resnet18-f37072fd.pth"  # the published name; the tiny checkpoint served under it is not that file


def manifest(**files: bytes) -> bytes:
    """``sha256sum`` output for the given {name: bytes} (a ``*`` marks binary mode, as sha256sum -b writes)."""
    return "".join(f"{sha256_of(body)} *{name}\n" for name, body in files.items()).encode()


@pytest.fixture
def tiny_bytes(tmp_path) -> bytes:
    return saved(trained_state(), tmp_path / "tiny.pth")


@pytest.fixture
def registry(standin_entry, torch_home, tmp_path) -> dict[str, weights.Entry]:  # noqa: F811
    """The real entries with tiny models; their publishers' URLs lead nowhere, so only a mirror serves them."""
    nowhere = (tmp_path / "no-publisher").as_uri() + "/"
    real = weights.default_registry()

    def unpublished(file: remote.RemoteFile) -> remote.RemoteFile:
        return dataclasses.replace(file, url=nowhere + file.filename)

    imagenet, places = real["resnet18_imagenet"], real["resnet50_places365"]
    return {
        "resnet18_imagenet": dataclasses.replace(imagenet, build=TinyNet, categories=("a", "b", "c", "d"),
                                                 checkpoint=unpublished(imagenet.checkpoint)),
        "resnet50_places365": dataclasses.replace(places, build=TinyNet, checkpoint=unpublished(places.checkpoint),
                                                  categories=unpublished(places.categories)),
        weights.STANDIN: standin_entry,
    }


def load_pretrained(registry, name: str = "resnet18_imagenet") -> weights.Pretrained:
    return weights.load(name, "pretrained", registry=registry, progress=False)


def test_mirror_serves_each_file_by_name_checked_against_its_manifest(registry, served, tiny_bytes,  # noqa: F811
                                                                      torch_home, monkeypatch):  # noqa: F811
    served.add(f"m/{CKPT}", tiny_bytes)
    served.add("m/SHA256SUMS", manifest(**{CKPT: tiny_bytes}))
    monkeypatch.setenv(remote.MIRROR_VAR, served.url("m"))  # the trailing slash is optional
    pre = load_pretrained(registry)
    assert not pre.is_standin
    assert_same_weights(pre.model, trained_state())
    assert f"from the mirror {served.url('m/')} (RESNETBOOK_MIRROR), sha256 {sha256_of(tiny_bytes)[:8]}…" \
        in pre.provenance
    assert pre.provenance.endswith(": not the published file, whose sha256 begins f37072fd).")
    assert cached(torch_home) == [CKPT]
    served.remove(f"m/{CKPT}")
    assert_same_weights(load_pretrained(registry).model, trained_state())  # the file is cached
    served.remove("m/SHA256SUMS")
    with pytest.raises(DownloadError, match="404"):  # the manifest is read afresh at every load
        load_pretrained(registry)


def test_mirror_with_the_published_file_says_so(registry, served, tiny_bytes, monkeypatch):  # noqa: F811
    name = f"resnet18-{sha256_of(tiny_bytes)[:8]}.pth"  # as torchvision names a file after its digest
    entry = registry["resnet18_imagenet"]
    registry["resnet18_imagenet"] = dataclasses.replace(entry, checkpoint=dataclasses.replace(
        entry.checkpoint, filename=name, sha256=sha256_of(tiny_bytes)[:8]))
    served.add(name, tiny_bytes)
    served.add("SHA256SUMS", manifest(**{name: tiny_bytes}))
    monkeypatch.setenv(remote.MIRROR_VAR, served.url())
    assert load_pretrained(registry).provenance.endswith(": the published file).")


def test_places365_checkpoint_and_categories_both_come_from_the_mirror(registry, served, tmp_path,  # noqa: F811
                                                                       torch_home, monkeypatch):  # noqa: F811
    checkpoint = {"state_dict": {f"module.{k}": v for k, v in trained_state().items()}, "epoch": 3}
    files = {"resnet50_places365.pth.tar": saved(checkpoint, tmp_path / "places.pth.tar",
                                                 _use_new_zipfile_serialization=False, pickle_protocol=2),
             "categories_places365.txt": PLACES_TEXT.encode()}
    for name, body in files.items():
        served.add(name, body)
    served.add("SHA256SUMS", b"# made with sha256sum\n\n" + manifest(**files))
    monkeypatch.setenv(remote.MIRROR_VAR, served.url())
    pre = load_pretrained(registry, "resnet50_places365")
    assert pre.categories == PLACES_NAMES
    assert_same_weights(pre.model, trained_state())
    assert cached(torch_home) == sorted(files)


def test_a_wrong_checksum_on_the_mirror_is_refused(registry, served, tiny_bytes, torch_home,  # noqa: F811
                                                   monkeypatch):
    served.add(CKPT, tiny_bytes)
    served.add("SHA256SUMS", manifest(**{CKPT: tiny_bytes + b"other bytes"}))
    monkeypatch.setenv(remote.MIRROR_VAR, served.url())
    with pytest.raises(DownloadError, match="sha256"):
        load_pretrained(registry)
    assert cached(torch_home) == []


def test_a_file_missing_from_the_manifest_is_a_clear_error(registry, served, tiny_bytes,  # noqa: F811
                                                           torch_home, monkeypatch):  # noqa: F811
    served.add(CKPT, tiny_bytes)
    served.add("SHA256SUMS", manifest(**{"another-file.pth": tiny_bytes}))
    monkeypatch.setenv(remote.MIRROR_VAR, served.url())
    with pytest.raises(DownloadError) as info:
        load_pretrained(registry)
    assert str(info.value) == (f"The mirror {served.url()} (RESNETBOOK_MIRROR) lists no sha256 for {CKPT} "
                               "in its SHA256SUMS, so it cannot be verified")
    assert "sha256sum <file>" in info.value.__notes__[0]
    assert cached(torch_home) == []  # nothing unverifiable was downloaded
    # auto mode: the stand-in, and its note gives the cause without the advice
    pre = weights.load("resnet18_imagenet", registry=registry, progress=False)
    assert pre.is_standin and pre.provenance.endswith(f"({info.value}).")


def test_a_malformed_manifest_is_a_clear_error(registry, served, monkeypatch):  # noqa: F811
    served.add("SHA256SUMS", f"f37072fd  {CKPT}\n".encode())  # a prefix is not a checksum list
    monkeypatch.setenv(remote.MIRROR_VAR, served.url())
    with pytest.raises(DownloadError, match="not in sha256sum's format: line 1") as info:
        load_pretrained(registry)
    assert "sha256sum * > SHA256SUMS" in info.value.__notes__[0]


def test_parse_sha256sums_and_mirror_base(monkeypatch):
    digest = "ab" * 32
    assert remote.parse_sha256sums(f"{digest.upper()}  a b.txt\n# note\n\n{digest} *c.pth\n") == {
        "a b.txt": digest, "c.pth": digest}
    with pytest.raises(ValueError, match="line 2"):
        remote.parse_sha256sums(f"{digest}  a\n{digest}a\n")
    with pytest.raises(ValueError, match="second, different sha256"):
        remote.parse_sha256sums(f"{digest}  a\n{'cd' * 32}  a\n")
    monkeypatch.delenv(remote.MIRROR_VAR, raising=False)
    assert remote.mirror_base() is None
    monkeypatch.setenv(remote.MIRROR_VAR, " http://host:8000/files// ")
    assert remote.mirror_base() == "http://host:8000/files/"
    monkeypatch.setenv(remote.MIRROR_VAR, "host:8000/files")
    with pytest.raises(ValueError, match="RESNETBOOK_MIRROR must be an http"):
        remote.mirror_base()
    files = [remote.RemoteFile("https://example.org/x.pth", "x.pth", "12345678")]
    monkeypatch.setenv(remote.MIRROR_VAR, "")
    assert remote.located(files) == files  # no mirror: as published


def test_places365_photo_comes_with_credit_and_regions(served, torch_home, monkeypatch):  # noqa: F811
    buffer = io.BytesIO()
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(buffer, format="JPEG")
    served.add("mountains.jpg", buffer.getvalue())
    served.add("SHA256SUMS", manifest(**{"mountains.jpg": buffer.getvalue()}))
    monkeypatch.setenv(remote.MIRROR_VAR, served.url())
    registry = weights.default_registry()
    (photo,) = registry["resnet50_places365"].examples(5, registry["resnet50_places365"].preprocess)
    assert photo.name == "mountains.jpg" and photo.image.shape == (60, 80, 3) and photo.image.flags.writeable
    assert photo.input.shape == (3, 256, 256) and "CSAILVision/places365" in photo.credit
    assert set(photo.regions) == {"sky", "snow-capped peaks", "valley floor"}
    masks = [visualize.band_mask((8, 8), *box) for box in photo.regions.values()]  # chapter 4's 8 x 8 maps
    assert all(mask.any() for mask in masks) and int(sum(m.int() for m in masks).max()) == 1  # disjoint
    assert examples.PLACES365_PHOTO.sha256 == "0092e75ff5c21dd19ef8ceed3bb21f1b25c012d8d810b359ed5b63677dff605f"
