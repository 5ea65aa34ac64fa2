"""The one download resolver of the book: cache, checksum, progress bar, timeout (chapters 2-4).

Every file the package fetches from the internet (pretrained checkpoints,
category lists, datasets) goes through :func:`fetch`, so that all downloads
behave alike: a cached copy is used when its checksum matches, a download is
written to a temporary file and renamed only after its checksum matched (an
interrupted download never leaves a corrupt cache entry), and every failure
raises :class:`DownloadError` with a message that says what to do.

Checkpoints are pickles, and unpickling can run code: :func:`safe_load_checkpoint`
loads them with ``torch.load(..., weights_only=True)``, which refuses anything
but tensors and plain containers.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import pickle
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import torch
from resnetbook.progress import bar  # a widget in Jupyter and Colab, text elsewhere

CHUNK_BYTES = 1 << 16
OFFLINE_HINT = (
    "Offline builds can use the project's stand-in weights instead: "
    "set RESNETBOOK_WEIGHTS=standin."
)


class DownloadError(RuntimeError):
    """A file could not be downloaded, or its bytes did not match the expected checksum."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint holds something other than tensors and plain containers."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file, read in chunks (chapters 2-4, via :func:`fetch`)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_digests(sha256: str | None, md5: str | None) -> dict[str, str]:
    """Validate the expected checksums; a sha256 may be a prefix of 8+ hex digits.

    A prefix is what torchvision's file names carry (``resnet18-f37072fd.pth``),
    and what ``torch.hub``'s ``check_hash`` verifies.
    """
    expected = {}
    for algorithm, value, full in (("sha256", sha256, 64), ("md5", md5, 32)):
        if value is None:
            continue
        value = value.lower()
        hex_ok = all(c in "0123456789abcdef" for c in value)
        short_ok = algorithm == "sha256" and len(value) >= 8
        if not hex_ok or not (len(value) == full or short_ok):
            raise ValueError(f"{algorithm} must be {full} hex digits, got {value!r}")
        expected[algorithm] = value
    return expected


def _checksum_problem(path: Path, expected: dict[str, str]) -> str | None:
    """Return why ``path`` fails its checksums, or None when they all match."""
    for algorithm, value in expected.items():
        actual = file_digest(path, algorithm)
        if not actual.startswith(value):
            return f"its {algorithm} is {actual}, expected {value}"
    return None


def _advice(url: str, dest: Path, expected: dict[str, str]) -> str:
    """What a reader can do when a download fails."""
    sums = ", ".join(f"{a} {v}" for a, v in expected.items())
    checked = f" (it must have {sums})" if sums else ""
    return (
        f"To fix it, download {url} on a machine with internet access and copy it to "
        f"{dest}{checked}; weights are cached under $TORCH_HOME/hub/checkpoints "
        f"(TORCH_HOME defaults to ~/.cache/torch). {OFFLINE_HINT}"
    )


def _download_to(url: str, part: Path, timeout: float, progress: bool, name: str) -> None:
    """Stream ``url`` into ``part``; raise when fewer bytes arrive than announced.

    The progress bar is labelled ``name`` (the file's real name, not the temporary one).
    """
    request = urllib.request.Request(url, headers={"User-Agent": "resnetbook"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None else None
        received = 0
        with bar(total=total, unit="B", unit_scale=True, disable=not progress,
                  desc=name) as shown:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                out.write(chunk)
                received += len(chunk)
                shown.update(len(chunk))
    # http.client returns a short body without complaint when the server hangs up early.
    if total is not None and received != total:
        raise DownloadError(f"the connection closed after {received} of {total} bytes")


def fetch(url: str, dest: Path, sha256: str | None = None, md5: str | None = None,
          timeout: float = 30, progress: bool = True) -> Path:
    """Return ``dest``, downloading ``url`` there unless a verified copy exists (chapters 2-4).

    ``sha256`` may be a full digest or a prefix of at least 8 hex digits (as in
    torchvision's file names). A cached file whose checksum does not match is
    reported and downloaded again; it is replaced only by a verified download.
    Raises :class:`DownloadError` (no network, timeout, HTTP error, interrupted
    download, wrong checksum) and leaves no partial file behind.
    """
    dest = Path(dest)
    expected = _expected_digests(sha256, md5)
    corrupt_note = ""
    if dest.is_file():
        problem = _checksum_problem(dest, expected)
        if problem is None:
            return dest
        corrupt_note = f" The cached copy {dest} is corrupt ({problem})."
        print(f"Cached file {dest} is corrupt ({problem}); downloading it again.", file=sys.stderr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, part_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    os.close(handle)
    part = Path(part_name)
    try:
        _download_to(url, part, timeout, progress, dest.name)
        problem = _checksum_problem(part, expected)
        if problem is not None:
            raise DownloadError(f"the downloaded file was refused: {problem}")
        os.replace(part, dest)
    except (OSError, ValueError, http.client.HTTPException, DownloadError) as err:
        # URLError and timeouts are OSErrors; HTTPError's own str() carries the status code.
        plain = isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError)
        reason = err.reason if plain else err
        raise DownloadError(
            f"Could not download {url}: {reason}.{corrupt_note} {_advice(url, dest, expected)}"
        ) from err
    finally:
        part.unlink(missing_ok=True)
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
