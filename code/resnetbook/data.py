"""FashionMNIST through torchvision, from Debian's package when it is installed, and a few photos (chapters 2-6).

``torchvision.datasets.FashionMNIST(root)`` reads the four decompressed files in
``<root>/FashionMNIST/raw/`` and downloads them from its mirrors when they are
missing. This module's own work is Debian's package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist/*.gz``): Debian recompressed the ``.gz``
files, so their md5 differs from torchvision's list, but the decompressed bytes
are the originals. So each cached file is checked against the originals' md5
(:data:`RAW_MD5`), a missing or damaged one is decompressed from Debian's folder,
and only then does torchvision load the files, downloading any still missing.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision

from resnetbook import settings
from resnetbook.download import file_digest, network_timeout, replacing

CLASSES: tuple[str, ...] = tuple(torchvision.datasets.FashionMNIST.classes)
# md5 of the DECOMPRESSED files, as published by Zalando (fashion-mnist README).
RAW_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_ROOT = settings.DATA_VAR
DOWNLOAD_TIMEOUT_S = 30.0


class DatasetNotFoundError(RuntimeError):
    """No verified FashionMNIST: not cached, damaged in Debian's folder, or not downloadable."""


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
    return settings.current().data_root or Path.home() / ".cache" / "resnetbook" / "data"


def _damaged(gz: Path, why: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(f"Debian's {gz} is damaged: {why}. Reinstall it with "
                                f"`sudo apt-get install --reinstall {DEBIAN_PACKAGE}`.")


def _decompress_verified(gz: Path, dest: Path, md5: str) -> None:
    """Decompress ``gz`` to ``dest`` if the bytes have ``md5``; else raise and leave no ``dest``."""
    with replacing(dest) as part:
        try:
            with gzip.open(gz) as source, open(part, "wb") as out:
                shutil.copyfileobj(source, out)
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:
            raise _damaged(gz, f"it cannot be decompressed ({err})") from err
        actual = file_digest(part, "md5")
        if actual != md5:
            raise _damaged(gz, f"it decompresses to md5 {actual}, expected {md5}")


def _install_from_debian(raw: Path) -> None:
    """Check each cached file's md5; decompress Debian's copy of a missing or damaged one, if there is one."""
    for name, md5 in RAW_MD5.items():
        path, gz = raw / name, DEBIAN_DIR / f"{name}.gz"
        if path.is_file():
            actual = file_digest(path, "md5")
            if actual == md5:
                continue
            warnings.warn(f"FashionMNIST cache file {path} has md5 {actual}, expected {md5}; "
                          "replacing it", stacklevel=4)
            path.unlink()
        if gz.is_file():
            _decompress_verified(gz, path, md5)


def _not_found(raw: Path, download: bool, err: Exception) -> DatasetNotFoundError:
    how = "torchvision could not download it" if download else "download=False"
    return DatasetNotFoundError(
        f"FashionMNIST is neither in {raw} nor in Debian's folder {DEBIAN_DIR}, and {how}: "
        f"{str(err).strip()}\nFix one of: `sudo apt-get install {DEBIAN_PACKAGE}` (Debian/Ubuntu); "
        f"connect to the internet and retry; or put the four decompressed files "
        f"({', '.join(RAW_MD5)}) into {raw} (set {ENV_ROOT} to use another cache folder).")


@functools.lru_cache(maxsize=4)
def _load(root: Path, download: bool) -> FashionMNIST:
    raw = root / "FashionMNIST" / "raw"
    _install_from_debian(raw)
    try:
        with network_timeout(DOWNLOAD_TIMEOUT_S):
            train = torchvision.datasets.FashionMNIST(root, train=True, download=download)
        test = torchvision.datasets.FashionMNIST(root, train=False)
    except (RuntimeError, OSError) as err:  # torchvision's "not found" and download errors; timeouts
        raise _not_found(raw, download, err) from err
    return FashionMNIST(train.data, train.targets, test.data, test.targets)


def load_fashion_mnist(root: str | os.PathLike | None = None, download: bool = True) -> FashionMNIST:
    """Load all of FashionMNIST into memory (chapter 5 trains on it; chapters
    2-4 show its test images through the stand-in weights).

    ``root`` defaults to :func:`default_root`. ``download=False`` never uses the
    network (Debian's folder is still used). Repeated calls with the same
    arguments return the same object.
    """
    return _load(Path(root if root is not None else default_root()).expanduser().absolute(), bool(download))


def clear_cache() -> None:
    """Forget datasets loaded in this process (tests; the disk cache stays)."""
    _load.cache_clear()


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
        with Image.open(folder / filename) as im:
            images[name] = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return images
