"""Tests of resnetbook.download against a local HTTP server (offline, fast)."""

from __future__ import annotations

import hashlib
import http.server
import os
import pickle
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from resnetbook.download import (
    DownloadError,
    UnsafeCheckpointError,
    fetch,
    file_digest,
    safe_load_checkpoint,
)


@dataclass
class Route:
    body: bytes
    truncate: bool = False  # announce more bytes than are sent, then hang up
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class LocalServer:
    """A tiny HTTP server on 127.0.0.1 that serves fixed bytes and logs each request."""

    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add(self, path: str, body: bytes, **options) -> str:
        self.routes[path] = Route(body, **options)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler_for(server: LocalServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            server.requests.append(self.path)
            route = server.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            time.sleep(route.delay)
            sent = route.body[: len(route.body) // 2] if route.truncate else route.body
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(sent)
            self.close_connection = True

        def log_message(self, *args) -> None:  # keep pytest output quiet
            pass

    return Handler


@pytest.fixture
def server():
    """Yield a LocalServer running in a thread on an ephemeral port."""
    state = LocalServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    httpd.daemon_threads = True
    httpd.block_on_close = False
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def closed_port_url(path: str = "/missing.pth") -> str:
    """A URL on 127.0.0.1 where nothing listens: the connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


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


def test_md5_and_sha256_prefix_are_accepted(server, tmp_path, checkpoint_bytes):
    url = server.add("/resnet-abc.pth", checkpoint_bytes)
    dest = tmp_path / "a.pth"
    fetch(url, dest, sha256=sha256_of(checkpoint_bytes)[:8], progress=False)
    fetch(url, dest, md5=hashlib.md5(checkpoint_bytes).hexdigest(), progress=False)
    assert len(server.requests) == 1
    with pytest.raises(ValueError, match="hex digits"):
        fetch(url, dest, sha256="abc", progress=False)


def test_interrupted_download_raises_and_caches_nothing(server, tmp_path, checkpoint_bytes):
    url = server.add("/tiny.pth", checkpoint_bytes, truncate=True)
    dest = tmp_path / "cache" / "tiny.pth"
    with pytest.raises(DownloadError, match=r"closed after \d+ of \d+ bytes"):
        fetch(url, dest, progress=False)  # no checksum: the length check alone must catch it
    assert cache_entries(dest.parent) == []


def test_wrong_checksum_is_refused_and_caches_nothing(server, tmp_path, checkpoint_bytes):
    url = server.add("/tiny.pth", checkpoint_bytes)
    dest = tmp_path / "cache" / "tiny.pth"
    with pytest.raises(DownloadError, match="refused: its sha256 is") as info:
        fetch(url, dest, sha256="0" * 64, progress=False)
    message = str(info.value)
    assert str(dest) in message and "RESNETBOOK_WEIGHTS=standin" in message
    assert cache_entries(dest.parent) == []


def test_corrupt_cached_file_is_detected_and_replaced(server, tmp_path, checkpoint_bytes, capsys):
    url = server.add("/tiny.pth", checkpoint_bytes)
    dest = tmp_path / "tiny.pth"
    dest.write_bytes(checkpoint_bytes[:-10] + b"0123456789")
    fetch(url, dest, sha256=sha256_of(checkpoint_bytes), progress=False)
    assert "is corrupt" in capsys.readouterr().err
    assert server.requests == ["/tiny.pth"]
    assert dest.read_bytes() == checkpoint_bytes


def test_corrupt_cached_file_without_network_is_a_clear_error(tmp_path, checkpoint_bytes):
    dest = tmp_path / "cache" / "tiny.pth"
    dest.parent.mkdir()
    dest.write_bytes(b"not the checkpoint")
    with pytest.raises(DownloadError, match="cached copy .* is corrupt"):
        fetch(closed_port_url(), dest, sha256=sha256_of(checkpoint_bytes), progress=False)
    assert dest.read_bytes() == b"not the checkpoint"  # nothing lost, nothing half-written
    assert cache_entries(dest.parent) == ["tiny.pth"]


@pytest.mark.parametrize("url", [closed_port_url(), "http://no-such-host.invalid/w.pth"])
def test_no_network_is_a_quick_clear_error(tmp_path, url):
    dest = tmp_path / "cache" / "w.pth"
    start = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        fetch(url, dest, sha256="ab" * 32, progress=False, timeout=5)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert message.startswith(f"Could not download {url}")
    assert "copy it to " + str(dest) in message and "TORCH_HOME" in message
    assert "RESNETBOOK_WEIGHTS=standin" in message
    assert cache_entries(dest.parent) == []


def test_http_error_and_timeout_are_download_errors(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP Error 404"):
        fetch(server.url("/nothing-here"), tmp_path / "x", progress=False)
    slow = server.add("/slow", b"late", delay=2.0)
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="timed out"):
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


def test_progress_bar_names_the_file_not_its_temporary_name(server, tmp_path, checkpoint_bytes, monkeypatch):
    from resnetbook import download, progress

    labels = []

    def recording_bar(*args, **kwargs):
        labels.append(kwargs.get("desc"))
        return progress.bar(*args, **{**kwargs, "disable": True})

    monkeypatch.setattr(download, "bar", recording_bar)
    url = server.add("/resnet-abc.pth", checkpoint_bytes)
    fetch(url, tmp_path / "resnet-abc.pth", sha256=sha256_of(checkpoint_bytes))
    assert labels == ["resnet-abc.pth"]


@pytest.mark.parametrize("value, off", [("1", True), ("true", True), ("", False), ("0", False)])
def test_tqdm_disable_turns_off_every_bar_even_the_notebook_widget(monkeypatch, value, off):
    from resnetbook import progress

    monkeypatch.setenv("TQDM_DISABLE", value)
    assert progress.bar(range(3)).disable is off
    assert progress.bar(range(3), disable=True).disable
