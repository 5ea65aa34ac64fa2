"""Tiny FashionMNIST-shaped IDX files for tests (no real data needed)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

SPLITS = {"train": 20, "t10k": 10}  # images per split in the fixture


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array of 1 (labels) or 3 (images) dimensions as IDX."""
    magic = {1: 2049, 3: 2051}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def fixture_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """File name -> array, for the four FashionMNIST files."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in SPLITS.items():
        arrays[f"{split}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}-labels-idx1-ubyte"] = (np.arange(n) % 10).astype(np.uint8)
    return arrays


def write_fake_debian(folder: Path, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Write Debian-style ``<name>.gz`` files; return (arrays, md5 of decompressed bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays, md5s = fixture_arrays(seed), {}
    for name, array in arrays.items():
        raw = idx_bytes(array)
        (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        md5s[name] = hashlib.md5(raw).hexdigest()
    return arrays, md5s
