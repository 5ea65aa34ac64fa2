"""FashionMNIST and a few natural photos, available offline (chapters 2-5).

FashionMNIST is found in this order, and every file is checked by md5:

1. the cache ``<root>/FashionMNIST/raw/`` holding decompressed IDX files, the
   layout ``torchvision.datasets.FashionMNIST(root)`` also reads;
2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``),
   decompressed into the cache;
3. torchvision's download mirror, decompressed into the cache.

Debian recompressed the ``.gz`` files, so their md5 differs from torchvision's
list; the decompressed bytes are the originals, so those are what we verify.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# md5 of the DECOMPRESSED files, as published by Zalando (fashion-mnist README).
RAW_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# Same as torchvision.datasets.FashionMNIST.mirrors (a test keeps them in sync).
MIRRORS: tuple[str, ...] = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
ENV_ROOT = "RESNETBOOK_DATA"
DOWNLOAD_TIMEOUT_S = 30.0

_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1 dimension, images: 3 (uint8 payload)
_STAMP = ".resnetbook-verified.json"
_CHUNK = 1 << 20


class IdxFormatError(ValueError):
    """A file is not a well-formed uint8 IDX file (labels or images)."""


class DatasetNotFoundError(RuntimeError):
    """FashionMNIST is in none of the places we look and cannot be downloaded."""


@dataclass(frozen=True)
class FashionMNIST:
    """The whole dataset in memory (chapter 5 trains on it; chapters 2-4 use
    its test images through the stand-in weights).

    Images are uint8 ``[N, 28, 28]``, labels int64 ``[N]``. The tensors are
    shared by every caller in the process: treat them as read-only (copy first).
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...] = CLASSES


def default_root() -> Path:
    """Cache folder for datasets (chapters 2-5): ``$RESNETBOOK_DATA`` or
    ``~/.cache/resnetbook/data``, outside the repository."""
    env = os.environ.get(ENV_ROOT, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "resnetbook" / "data"


def parse_idx(data: bytes, name: str = "IDX file") -> np.ndarray:
    """Parse uint8 IDX bytes (magic 2049 labels, 2051 images) into an array
    (used by ``load_fashion_mnist``, chapters 2-5)."""
    if len(data) < 8:
        raise IdxFormatError(f"{name}: {len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic not in _IDX_MAGIC:
        raise IdxFormatError(
            f"{name}: magic number {magic} is not an IDX uint8 label (2049) or image (2051) file"
        )
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{name}: header truncated ({len(data)} of {header} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise IdxFormatError(
            f"{name}: header says shape {shape} ({expected} bytes) but the file has "
            f"{len(data)} bytes (truncated or corrupt)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_stamps(raw: Path) -> dict:
    try:
        return json.loads((raw / _STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(raw: Path, name: str, md5: str) -> None:
    """Remember that ``name`` (at its current size and mtime) has this md5.

    Best effort: a read-only cache only means the next load hashes again."""
    stamps = _read_stamps(raw)
    st = (raw / name).stat()
    stamps[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": md5}
    tmp = raw / f"{_STAMP}.{os.getpid()}.part"
    try:
        tmp.write_text(json.dumps(stamps, indent=1, sort_keys=True))
        os.replace(tmp, raw / _STAMP)
    except OSError:
        tmp.unlink(missing_ok=True)


def _cached_ok(raw: Path, name: str, md5: str) -> bool:
    """True when the cached file has the expected md5. The stamp lets a later
    load skip hashing when size and nanosecond mtime are unchanged (any
    rewrite of the file moves its mtime, so it is hashed again)."""
    path = raw / name
    if not path.is_file():
        return False
    st = path.stat()
    stamp = _read_stamps(raw).get(name, {})
    if stamp == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": md5}:
        return True
    actual = _md5_file(path)
    if actual == md5:
        _write_stamp(raw, name, md5)
        return True
    warnings.warn(
        f"FashionMNIST cache file {path} has md5 {actual}, expected {md5}; "
        "ignoring it and fetching a fresh copy.",
        stacklevel=4,
    )
    return False


def _install_gz(source: BinaryIO, raw: Path, name: str, md5: str, origin: str) -> None:
    """Decompress a .gz stream into ``raw/name`` via a temp file in the same
    folder; rename only after the md5 matches, so no half-written file remains."""
    fd, tmp_name = tempfile.mkstemp(dir=raw, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, gzip.GzipFile(fileobj=source) as gz:
            while chunk := gz.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise OSError(f"{origin}: decompressed md5 {digest.hexdigest()}, expected {md5}")
        tmp.chmod(0o644)  # mkstemp makes 0600; the cache may be shared
        os.replace(tmp, raw / name)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(raw, name, md5)


def _from_debian(debian_dir: Path, raw: Path, name: str, md5: str) -> None:
    gz_path = debian_dir / f"{name}.gz"
    if not gz_path.is_file():
        raise FileNotFoundError(f"{gz_path} does not exist")
    with gz_path.open("rb") as f:
        _install_gz(f, raw, name, md5, str(gz_path))


def _from_mirror(mirror: str, raw: Path, name: str, md5: str) -> None:
    """Download ``<mirror><name>.gz`` with the book's resolver (progress bar,
    timeout, temp file), then decompress and verify it into the cache."""
    from resnetbook import download

    url = f"{mirror}{name}.gz"
    with tempfile.TemporaryDirectory(dir=raw, prefix=".download-") as tmp:
        try:
            gz_path = download.fetch(url, Path(tmp) / f"{name}.gz", timeout=DOWNLOAD_TIMEOUT_S)
        except download.DownloadError as err:  # its advice is about weights; keep the cause
            raise OSError(f"{url}: {err.__cause__ or err}") from err
        with gz_path.open("rb") as f:
            _install_gz(f, raw, name, md5, url)


def _resolve_file(
    raw: Path, name: str, md5: str, debian_dir: Path, mirrors: tuple[str, ...], download: bool
) -> list[str]:
    """Make ``raw/name`` a verified file: cache, then Debian, then mirrors.

    Returns the errors met when every source failed, else an empty list."""
    if _cached_ok(raw, name, md5):
        return []
    attempts = [functools.partial(_from_debian, debian_dir, raw, name, md5)]
    if download:
        attempts += [functools.partial(_from_mirror, m, raw, name, md5) for m in mirrors]
    errors = []
    for attempt in attempts:
        try:
            attempt()
            return []
        except (OSError, EOFError) as err:  # URLError and BadGzipFile are OSErrors
            errors.append(f"{name}: {err}")
    return errors


def _not_found_message(
    raw: Path, debian_dir: Path, mirrors: tuple[str, ...], download: bool, errors: list[str]
) -> str:
    url = f"{mirrors[0]}train-images-idx3-ubyte.gz" if mirrors else "(no mirrors configured)"
    tried = "\n".join(f"  - {e}" for e in errors)
    return (
        "FashionMNIST could not be found or downloaded.\n"
        f"Looked in the cache {raw} and in Debian's folder {debian_dir}; download "
        f"{'failed' if download else 'was disabled'} (e.g. {url}).\n"
        f"Errors:\n{tried}\n"
        f"Fix one of: `sudo apt-get install {DEBIAN_PACKAGE}` (Debian/Ubuntu); connect to the "
        f"internet and retry; or put the four decompressed IDX files into {raw} "
        f"(set {ENV_ROOT} to use another cache folder)."
    )


def _load_split(raw: Path, prefix: str, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = parse_idx((raw / f"{prefix}-images-idx3-ubyte").read_bytes(), f"{prefix}-images")
    labels = parse_idx((raw / f"{prefix}-labels-idx1-ubyte").read_bytes(), f"{prefix}-labels")
    if images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        raise IdxFormatError(
            f"{prefix}: images {images.shape} and labels {labels.shape} do not match "
            "FashionMNIST's [N, 28, 28] / [N]"
        )
    if labels.size and labels.max() >= num_classes:
        raise IdxFormatError(f"{prefix}: label {labels.max()} is not below {num_classes}")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


@functools.lru_cache(maxsize=4)
def _load_cached(
    root: Path, download: bool, debian_dir: Path, mirrors: tuple[str, ...],
    md5_items: tuple[tuple[str, str], ...],
) -> FashionMNIST:
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    errors = []
    for name, md5 in md5_items:
        errors += _resolve_file(raw, name, md5, debian_dir, mirrors, download)
    if errors:
        raise DatasetNotFoundError(_not_found_message(raw, debian_dir, mirrors, download, errors))
    train_images, train_labels = _load_split(raw, "train", len(CLASSES))
    test_images, test_labels = _load_split(raw, "t10k", len(CLASSES))
    return FashionMNIST(train_images, train_labels, test_images, test_labels, CLASSES)


def load_fashion_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    debian_dir: str | os.PathLike | None = None,
    mirrors: Iterable[str] | None = None,
    md5s: Mapping[str, str] | None = None,
) -> FashionMNIST:
    """Load all of FashionMNIST into memory (chapter 5 trains on it; chapters
    2-4 show its test images through the stand-in weights).

    ``root`` defaults to ``default_root()``. ``download=False`` never uses the
    network (the Debian folder is still used). ``debian_dir``, ``mirrors`` and
    ``md5s`` (file name -> md5 of the decompressed file) exist for tests.
    Repeated calls with the same arguments return the same object.
    """
    md5_table = dict(RAW_MD5 if md5s is None else md5s)
    if set(md5_table) != set(RAW_MD5):
        raise ValueError(f"md5s must have exactly the keys {sorted(RAW_MD5)}, got {sorted(md5_table)}")
    return _load_cached(
        Path(root if root is not None else default_root()).expanduser().absolute(),
        bool(download),
        Path(debian_dir if debian_dir is not None else DEBIAN_DIR),
        tuple(MIRRORS if mirrors is None else mirrors),
        tuple((name, md5_table[name]) for name in RAW_MD5),
    )


def clear_cache() -> None:
    """Forget datasets loaded in this process (tests; the disk cache stays)."""
    _load_cached.cache_clear()


# Natural RGB photos shipped inside scikit-image's wheel (read from its data
# folder directly: some skimage.data functions would download through pooch).
_SAMPLE_FILES: dict[str, str] = {
    "astronaut": "astronaut.png",
    "cat": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
}


def sample_image_dir() -> Path:
    """Folder of scikit-image's bundled images (used by ``sample_images``)."""
    import skimage.data

    return Path(skimage.data.__file__).parent


def sample_images() -> dict[str, np.ndarray]:
    """A few natural photos as HxWx3 uint8 arrays, keyed by a short name
    (chapters 2 and 4: ImageNet/Places365 predictions with real weights).

    Returns fresh copies, so callers may modify them.
    """
    return {name: image.copy() for name, image in _read_samples().items()}


@functools.lru_cache(maxsize=1)
def _read_samples() -> dict[str, np.ndarray]:
    from PIL import Image

    folder = sample_image_dir()
    images = {}
    for name, filename in _SAMPLE_FILES.items():
        path = folder / filename
        if not path.is_file():
            raise FileNotFoundError(f"scikit-image's bundled image {path} is missing; reinstall scikit-image")
        with Image.open(path) as im:
            images[name] = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return images
