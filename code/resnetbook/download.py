"""The one download resolver of the book: torch.hub's download, a verified cache, a timeout (chapters 2-6).

:func:`fetch` wraps :func:`torch.hub.download_url_to_file`, which writes to a
temporary file, checks a sha256 prefix and only then renames the file, so an
interrupted download never leaves a corrupt cache entry. It adds what torch.hub
lacks: a cached copy is used only when its checksum matches, a timeout, a body
shorter than its ``Content-Length`` is refused, and the progress bar is
:func:`resnetbook.progress.bar` (named after the file, off under ``TQDM_DISABLE``).
A failure raises :class:`DownloadError`, whose message says what failed and why;
the caller adds what to do about it.

Checkpoints are pickles, and unpickling can run code: :func:`safe_load_checkpoint`
loads them with ``torch.load(..., weights_only=True)``, which refuses anything
but tensors and plain containers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import os
import pickle
import re
import socket
import tempfile
import urllib.error
import warnings
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import torch
import torch.hub

from resnetbook.progress import bar


class DownloadError(RuntimeError):
    """A download failed; the message names the URL and the reason (timeout, HTTP status, checksum, length)."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds something other than tensors and plain containers."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file (chapters 2-6: downloads, stand-in weights, FashionMNIST's files)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, algorithm).hexdigest()


@contextlib.contextmanager
def network_timeout(seconds: float) -> Iterator[None]:
    """Give the sockets opened in the block a timeout: torch.hub and torchvision open URLs without one."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


@contextlib.contextmanager
def replacing(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``, renamed to ``dest`` if the block succeeds, else deleted."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(handle)
    part = Path(name)
    try:
        yield part
        part.chmod(0o644)  # mkstemp makes 0600; a cache may be shared
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


class _HubBar:
    """Stands in for torch.hub's progress bar: shows ours, and counts the bytes written.

    torch.hub leaves its bar's ``with`` block before it checks the hash and renames
    the file, so a body shorter than announced is refused here, in time: Python's
    http.client returns a short body without complaint when a server hangs up early.
    """

    def __init__(self, name: str, show: bool, total: int | None = None, **_torch_hub_options) -> None:
        self.total, self.received = total, 0
        self.shown = bar(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                         disable=not show)

    def __enter__(self) -> _HubBar:
        return self

    def update(self, n: int) -> None:
        self.received += n
        self.shown.update(n)

    def __exit__(self, error_type, *_) -> None:
        self.shown.close()
        if error_type is None and self.total is not None and self.received != self.total:
            raise ConnectionError(f"truncated: the connection closed after {self.received} of "
                                  f"{self.total} bytes")


def fetch(url: str, dest: Path, sha256: str | None = None, timeout: float = 30,
          progress: bool = True) -> Path:
    """Return ``dest``, downloading ``url`` there unless a copy with the right sha256 is cached (chapters 2-6).

    ``sha256`` is a full digest or a prefix of at least 8 hex digits (torchvision's
    file names carry one); without it any cached copy is used. A cached copy with
    another sha256 is downloaded again, with a warning, and replaced only by a
    verified download. Raises :class:`DownloadError` (no network, timeout, HTTP
    error, truncated body, wrong sha256) and leaves no partial file behind.
    Downloads run one at a time: torch.hub's bar is swapped for ours during the call.
    """
    dest, sha256 = Path(dest), sha256 and sha256.lower()
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{8,64}", sha256):
        raise ValueError(f"sha256 must be 8 to 64 hex digits, got {sha256!r}")
    stale = ""
    if dest.is_file():
        if sha256 is None or (actual := file_digest(dest)).startswith(sha256):
            return dest
        stale = f"the cached copy {dest} has sha256 {actual}, expected {sha256}"
        warnings.warn(f"Downloading {dest.name} again: {stale}", stacklevel=2)
    dest.parent.mkdir(parents=True, exist_ok=True)
    hub_bar = functools.partial(_HubBar, dest.name, progress)
    try:
        with network_timeout(timeout), mock.patch.object(torch.hub, "tqdm", hub_bar):
            torch.hub.download_url_to_file(url, str(dest), hash_prefix=sha256, progress=False)
    except (OSError, http.client.HTTPException, RuntimeError) as err:
        # A URLError wraps its cause (refused, timed out, unknown host); HTTPError's str() has the status.
        reason = err.reason if type(err) is urllib.error.URLError else err
        if "invalid hash value" in str(err):  # torch.hub's words for a sha256 mismatch
            reason = f"wrong sha256, {err}"
        raise DownloadError(f"Could not download {url}: {reason}" + (f" ({stale})" if stale else "")) from err
    return dest


def safe_load_checkpoint(path: Path) -> dict:
    """Load a checkpoint on the CPU, refusing pickles that would run code (chapters 2-4).

    Verify the file's checksum first (:func:`fetch` does); this is the second
    line of defence for files that came from elsewhere.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"Refused to load {path}: it contains Python objects other than tensors and plain "
            f"containers, and unpickling them could run code. Use a checkpoint saved with "
            f"torch.save(model.state_dict()). Details: {str(err).splitlines()[0]}"
        ) from err
    if not isinstance(checkpoint, dict):
        raise UnsafeCheckpointError(
            f"{path} holds a {type(checkpoint).__name__}, expected a dict (a state dict)"
        )
    return checkpoint
