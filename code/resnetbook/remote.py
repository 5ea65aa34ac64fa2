"""Where each online file comes from: as published, or from a mirror (chapters 2-4).

Every online file (checkpoints, category lists, chapter 4's photo) is a
:class:`RemoteFile`, fetched by :func:`fetch_file` through
:func:`resnetbook.download.fetch` into torch.hub's cache and verified against
its sha256. ``RESNETBOOK_MIRROR`` (a base URL such as ``http://127.0.0.1:8000/``)
makes every one of them come from a mirror instead: a closed network's file
server, or a test. The mirror serves each file under its own name
(``<mirror>/resnet18-f37072fd.pth``) and, at its root, a ``SHA256SUMS`` manifest
in ``sha256sum``'s format (``<64 hex digits>  <file name>`` per line) that states
the checksum each file is verified against. A file the manifest does not list is
an error, never an unchecked download. Make a manifest with
``sha256sum * > SHA256SUMS`` in the mirror's folder.
"""

from __future__ import annotations

import re
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torchvision

from resnetbook import settings
from resnetbook.download import DownloadError, fetch

MIRROR_VAR = settings.MIRROR_VAR
MIRROR_MANIFEST = "SHA256SUMS"


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: ``sha256`` is a full digest or torchvision's 8+ digit prefix."""

    url: str
    filename: str
    sha256: str


def hub_checkpoint_dir() -> Path:
    """Where weights are cached: torch.hub's ``<TORCH_HOME>/hub/checkpoints`` (chapters 2-4)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_file(weights: torchvision.models.WeightsEnum) -> RemoteFile:
    """The checkpoint of a torchvision weight enum, with the sha256 prefix its file name carries."""
    filename = weights.url.rsplit("/", 1)[-1]
    match = torch.hub.HASH_REGEX.search(filename)
    if match is None:
        raise ValueError(f"{filename} carries no sha256 prefix")
    return RemoteFile(weights.url, filename, match.group(1))


def parse_sha256sums(text: str) -> dict[str, str]:
    """A ``SHA256SUMS`` manifest as {file name: sha256}.

    Each line is what ``sha256sum`` prints, ``<64 hex digits>  <file name>`` (a
    ``*`` before the name, binary mode, is accepted); blank lines and lines
    starting with ``#`` are skipped. Raises ValueError naming the first bad line.
    """
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](\S.*)", line.rstrip())
        if match is None:
            raise ValueError(f"line {number} is not '<64 hex digits>  <file name>': {line!r}")
        digest, name = match.group(1).lower(), match.group(2)
        if sums.get(name, digest) != digest:
            raise ValueError(f"line {number} gives {name} a second, different sha256")
        sums[name] = digest
    return sums


def mirror_base() -> str | None:
    """``$RESNETBOOK_MIRROR`` ending in one ``/``, or None when it is unset or empty."""
    return settings.current().mirror


def read_mirror_manifest(base: str) -> dict[str, str]:
    """The mirror's ``SHA256SUMS``, downloaded afresh (it is what every other file is checked against)."""
    url = base + MIRROR_MANIFEST
    with tempfile.TemporaryDirectory(prefix="resnetbook-mirror-") as folder:
        text = fetch(url, Path(folder) / MIRROR_MANIFEST, progress=False).read_text(encoding="utf-8")
    try:
        return parse_sha256sums(text)
    except ValueError as err:
        error = DownloadError(f"The mirror's manifest {url} is not in sha256sum's format: {err}")
        error.add_note(f"Write it with `sha256sum * > {MIRROR_MANIFEST}` in the mirror's folder.")
        raise error from err


def located(files: Sequence[RemoteFile]) -> list[RemoteFile]:
    """Where to download each file: as published, or from ``$RESNETBOOK_MIRROR`` (chapters 2-4).

    From a mirror, a file keeps its name and takes the sha256 that the mirror's
    manifest states; a file missing from the manifest raises DownloadError.
    """
    base = mirror_base()
    if base is None:
        return list(files)
    manifest = read_mirror_manifest(base)
    missing = [file.filename for file in files if file.filename not in manifest]
    if missing:
        error = DownloadError(f"The mirror {base} ({MIRROR_VAR}) lists no sha256 for {', '.join(missing)} "
                              f"in its {MIRROR_MANIFEST}, so it cannot be verified")
        error.add_note(f"Put the file in the mirror's folder and add the line that `sha256sum <file>` "
                       f"prints to {MIRROR_MANIFEST}, or unset {MIRROR_VAR} to download from the publisher.")
        raise error
    return [RemoteFile(base + urllib.parse.quote(file.filename), file.filename, manifest[file.filename])
            for file in files]


def fetch_file(file: RemoteFile, progress: bool = True) -> Path:
    """Download ``file`` (already :func:`located`) into torch.hub's cache, verified; return its path."""
    return fetch(file.url, hub_checkpoint_dir() / file.filename, sha256=file.sha256, progress=progress)
