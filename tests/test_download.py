"""Tests of resnetbook.download against a local HTTP server (offline, fast)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import time
from pathlib import Path

import pytest
import torch
from support import closed_port_url

from resnetbook.download import (
    DownloadError,
    UnsafeCheckpointError,
    fetch,
    file_digest,
    safe_load_checkpoint,
)


@pytest.fixture
def checkpoint_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "source" / "tiny.pth"
    path.parent.mkdir()
    torch.save({"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.zeros(2)}, path)
    return path.read_bytes()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_second_call_is_a_cache_hit(server, tmp_path, checkpoint_bytes):
    url = server.add("/tiny.pth", checkpoint_bytes)
    dest = tmp_path / "cache" / "tiny.pth"
    assert fetch(url, dest, sha256=sha256_of(checkpoint_bytes), progress=False) == dest
    assert dest.read_bytes() == checkpoint_bytes
    assert fetch(url, dest, sha256=sha256_of(checkpoint_bytes), progress=False) == dest
    assert server.requests == ["/tiny.pth"]  # the second call never reached the server
    assert cache_entries(dest.parent) == ["tiny.pth"]
    assert torch.equal(safe_load_checkpoint(dest)["weight"], torch.arange(6.0).reshape(2, 3))


def test_sha256_prefix_is_accepted_and_a_malformed_one_refused(server, tmp_path, checkpoint_bytes):
    url = server.add("/resnet-abc.pth", checkpoint_bytes)
    dest = tmp_path / "a.pth"
    fetch(url, dest, sha256=sha256_of(checkpoint_bytes)[:8].upper(), progress=False)
    fetch(url, dest, sha256=sha256_of(checkpoint_bytes), progress=False)  # cached: the full digest matches too
    assert server.requests == ["/resnet-abc.pth"]
    for bad in ("abc", "xyz12345", "0" * 65):
        with pytest.raises(ValueError, match="8 to 64 hex digits"):
            fetch(url, tmp_path / "b.pth", sha256=bad, progress=False)
    assert server.requests == ["/resnet-abc.pth"]


def test_truncated_download_is_refused_and_caches_nothing(server, tmp_path, checkpoint_bytes):
    url = server.add("/tiny.pth", checkpoint_bytes, truncate=True)
    dest = tmp_path / "cache" / "tiny.pth"
    n = len(checkpoint_bytes)
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, progress=False)  # no checksum: the length check alone must catch it
    assert str(info.value) == (f"Could not download {url}: truncated: the connection closed after "
                               f"{n // 2} of {n} bytes")
    assert cache_entries(dest.parent) == []


def test_wrong_checksum_names_expected_and_actual_and_caches_nothing(server, tmp_path, checkpoint_bytes):
    url = server.add("/tiny.pth", checkpoint_bytes)
    dest = tmp_path / "cache" / "tiny.pth"
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, sha256="0" * 64, progress=False)
    message = str(info.value)
    assert message.startswith(f"Could not download {url}: ")
    assert "0" * 64 in message and sha256_of(checkpoint_bytes) in message
    assert cache_entries(dest.parent) == []


def test_cached_copy_with_wrong_checksum_is_downloaded_again(server, tmp_path, checkpoint_bytes):
    url = server.add("/tiny.pth", checkpoint_bytes)
    dest = tmp_path / "tiny.pth"
    dest.write_bytes(checkpoint_bytes[:-10] + b"0123456789")
    with pytest.warns(UserWarning, match=f"Downloading tiny.pth again: the cached copy .* has sha256 "
                                         f"{sha256_of(dest.read_bytes())}"):
        fetch(url, dest, sha256=sha256_of(checkpoint_bytes), progress=False)
    assert server.requests == ["/tiny.pth"]
    assert dest.read_bytes() == checkpoint_bytes


def test_cached_copy_with_wrong_checksum_and_no_network_is_kept_and_named(tmp_path, checkpoint_bytes):
    dest = tmp_path / "cache" / "tiny.pth"
    dest.parent.mkdir()
    dest.write_bytes(b"not the checkpoint")
    with pytest.warns(UserWarning), pytest.raises(DownloadError) as info:
        fetch(closed_port_url("/tiny.pth"), dest, sha256=sha256_of(checkpoint_bytes), progress=False)
    assert f"(the cached copy {dest} has sha256 {sha256_of(b'not the checkpoint')}, expected" in str(info.value)
    assert dest.read_bytes() == b"not the checkpoint"  # nothing lost, nothing half-written
    assert cache_entries(dest.parent) == ["tiny.pth"]


@pytest.mark.parametrize("url", [closed_port_url("/w.pth"), "http://no-such-host.invalid/w.pth"],
                         ids=["closed-port", "no-such-host"])  # a port varies: xdist workers must collect the same ids
def test_no_network_is_a_quick_error_that_names_only_the_cause(tmp_path, url):
    dest = tmp_path / "cache" / "w.pth"
    start = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, sha256="ab" * 32, progress=False, timeout=5)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert message.startswith(f"Could not download {url}: ") and "urlopen error" not in message
    assert "\n" not in message and "RESNETBOOK" not in message and "To fix" not in message  # no advice
    assert cache_entries(dest.parent) == []


def test_http_error_and_timeout_are_download_errors(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/nothing-here: HTTP Error 404"):
        fetch(server.url("/nothing-here"), tmp_path / "x", progress=False)
    slow = server.add("/slow", b"late", delay=2.0)
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"/slow: timed out$"):
        fetch(slow, tmp_path / "y", progress=False, timeout=0.3)
    assert time.perf_counter() - start < 1.5
    assert cache_entries(tmp_path) == []


class Payload:
    """Unpickling this object runs a shell command (the attack weights_only stops)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_with_code_payload_is_refused_and_never_runs(tmp_path):
    armed = tmp_path / "armed"
    pickle.loads(pickle.dumps(Payload(armed)))  # the payload is live when unpickled naively
    assert armed.exists()

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.ones(1), "extra": Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="could run code"):
        safe_load_checkpoint(path)
    assert not marker.exists()


def test_non_dict_checkpoint_is_refused(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.ones(2), path)
    with pytest.raises(UnsafeCheckpointError, match="expected a dict"):
        safe_load_checkpoint(path)


def test_file_digest_matches_hashlib(tmp_path):
    path = tmp_path / "data.bin"
    data = os.urandom(200_000)
    path.write_bytes(data)
    assert file_digest(path) == sha256_of(data)
    assert file_digest(path, "md5") == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("progress, tqdm_disable, shown", [(True, "", True), (True, "1", False), (False, "", False)])
def test_the_progress_bar_is_ours_named_after_the_file_and_off_when_asked(
        server, tmp_path, checkpoint_bytes, monkeypatch, progress, tqdm_disable, shown):
    from resnetbook import download
    from resnetbook import progress as progress_module

    bars = []

    def recording_bar(**kwargs):
        made = progress_module.bar(**kwargs, file=io.StringIO())
        bars.append((made, kwargs.get("desc"), made.disable))  # a disabled bar keeps no desc; close() disables
        return made

    monkeypatch.setenv("TQDM_DISABLE", tqdm_disable)
    monkeypatch.setattr(download, "bar", recording_bar)
    url = server.add("/resnet-abc.pth", checkpoint_bytes)
    fetch(url, tmp_path / "resnet-abc.pth", sha256=sha256_of(checkpoint_bytes), progress=progress)
    [(made, desc, disabled)] = bars
    assert (desc, made.total, disabled) == ("resnet-abc.pth", len(checkpoint_bytes), not shown)
    assert made.n == (len(checkpoint_bytes) if shown else 0)


@pytest.mark.parametrize("value, off", [("1", True), ("true", True), ("", False), ("0", False)])
def test_tqdm_disable_turns_off_every_bar_even_the_notebook_widget(monkeypatch, value, off):
    from resnetbook import progress

    monkeypatch.setenv("TQDM_DISABLE", value)
    assert progress.bar(range(3)).disable is off
    assert progress.bar(range(3), disable=True).disable
