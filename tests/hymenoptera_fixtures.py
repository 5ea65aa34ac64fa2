"""A surrogate of the PyTorch tutorial's ``hymenoptera_data.zip``, in its real layout (chapter 6's online path)."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

PER_CLASS = {"train": {"ants": 123, "bees": 121}, "val": {"ants": 70, "bees": 83}}  # 244 and 153 in all


def jpeg(seed: int, size: int = 24) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def write_zip(path: Path, per_class=PER_CLASS, root: str = "hymenoptera_data") -> Path:
    """A zip in the tutorial archive's layout; one non-image file per class, as ImageFolder would skip it."""
    with zipfile.ZipFile(path, "w") as zipped:
        for split, classes in per_class.items():
            for cls, n in classes.items():
                for i in range(n):
                    zipped.writestr(f"{root}/{split}/{cls}/{cls}_{i:04d}.jpg", jpeg(zlib.crc32(f"{split}/{cls}/{i}".encode())))
                zipped.writestr(f"{root}/{split}/{cls}/notes.txt", "not an image")
    return path
