"""The PyTorch tutorial's ants-and-bees photos: fetched, checked, loaded, trained on (chapter 6, online).

``hymenoptera_data.zip`` holds ``hymenoptera_data/{train,val}/{ants,bees}/*.jpg``. PyTorch
publishes no checksum for it, so what can be checked is: its size when it comes from the
publisher (from a ``RESNETBOOK_MIRROR``, the mirror's ``SHA256SUMS`` vouches instead), that it
unzips with intact CRCs, and that it holds the two classes and exactly as many images per split
as ImageFolder finds in the published archive. It is unpacked into a temporary folder beside the
cache and renamed only after every check passed; a zip that fails is deleted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2

from resnetbook import data, download, fallback, remote, weights
from resnetbook.trainer import Trainer

DATA_DIR = "hymenoptera"  # under resnetbook.data.default_root()


class DatasetLayoutError(download.DownloadError):
    """The archive does not unzip to the expected folders, classes and image counts."""


@dataclass(frozen=True)
class ImageArchive:
    """A zip of ``<root>/<split>/<class>/<image>`` folders and what can be checked about it (chapter 6).

    ``file.sha256`` is empty when the publisher gives none; ``size`` (bytes) is checked
    then. ``counts``: images per split that ImageFolder must find (``None``: at least one per class).
    """

    file: remote.RemoteFile
    size: int | None
    root: str
    classes: tuple[str, ...]
    counts: Mapping[str, int] | None = field(default=None)
    credit: str = ""


HYMENOPTERA = ImageArchive(
    remote.RemoteFile("https://download.pytorch.org/tutorial/hymenoptera_data.zip",
                       "hymenoptera_data.zip", ""),
    # Size and counts as downloaded and loaded by others (the size matches a progress
    # log of the download; 244/153 is what ImageFolder reports in many tutorial runs).
    size=47_286_322, root="hymenoptera_data", classes=("ants", "bees"),
    counts={"train": 244, "val": 153},
    credit="the ants-and-bees photos of PyTorch's transfer-learning tutorial (a small subset of ImageNet)")


def cache_dir() -> Path:
    """Where archives and their unpacked folders are kept: ``<data root>/hymenoptera`` (chapter 6)."""
    return data.default_root() / DATA_DIR


def image_counts(folder: Path, archive: ImageArchive = HYMENOPTERA) -> dict[str, dict[str, int]]:
    """``{split: {class: images}}`` of an unpacked archive; DatasetLayoutError if it is not as expected (chapter 6)."""
    splits = archive.counts or {"train": 0, "val": 0}
    counts: dict[str, dict[str, int]] = {}
    for split in splits:
        found = sorted(p.name for p in (folder / split).iterdir() if p.is_dir()) if (folder / split).is_dir() else []
        if found != sorted(archive.classes):
            raise DatasetLayoutError(f"{archive.file.filename}: {archive.root}/{split}/ holds the class folders "
                                     f"{found}, expected {sorted(archive.classes)}")
        counts[split] = {c: sum(p.suffix.lower() in IMG_EXTENSIONS for p in (folder / split / c).iterdir())
                         for c in archive.classes}
        empty = [c for c, n in counts[split].items() if n == 0]
        if empty:
            raise DatasetLayoutError(f"{archive.file.filename}: {archive.root}/{split}/{empty[0]}/ holds no images")
        total = sum(counts[split].values())
        if archive.counts is not None and total != archive.counts[split]:
            raise DatasetLayoutError(f"{archive.file.filename}: {archive.root}/{split}/ holds {total} images, "
                                     f"expected {archive.counts[split]} ({counts[split]})")
    return counts


def _unpack(zip_path: Path, dest: Path, archive: ImageArchive) -> None:
    """Unzip into a temporary folder beside ``dest``, check it, then rename it to ``dest``."""
    work = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        try:
            with zipfile.ZipFile(zip_path) as zipped:
                bad = zipped.testzip()
                if bad is not None:
                    raise DatasetLayoutError(f"{zip_path.name} is corrupt: {bad} fails its CRC check")
                zipped.extractall(work)
        except (zipfile.BadZipFile, EOFError) as err:
            raise DatasetLayoutError(f"{zip_path.name} is not a readable zip archive ({err}); "
                                     "it was probably cut short while downloading") from err
        if not (work / archive.root).is_dir():
            raise DatasetLayoutError(f"{zip_path.name} has no top folder {archive.root}/")
        image_counts(work / archive.root, archive)
        try:
            os.replace(work / archive.root, dest)
        except OSError:
            if not dest.is_dir():  # else another process unpacked it first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_archive(archive: ImageArchive = HYMENOPTERA, progress: bool = True) -> Path:
    """The unpacked, checked folder of ``archive``, downloaded and unpacked once into the cache (chapter 6).

    Downloads through the book's resolver (``remote.located``: ``RESNETBOOK_MIRROR`` respected;
    ``download.fetch``: progress bar, timeout); raises ``resnetbook.download.DownloadError`` (or its subclass
    :class:`DatasetLayoutError`) with what went wrong, and leaves no cache entry then.
    """
    folder = cache_dir()
    dest = folder / archive.root
    if dest.is_dir():
        try:
            image_counts(dest, archive)
            return dest
        except DatasetLayoutError:
            shutil.rmtree(dest)  # an older or altered copy: unpack it again
    (used,) = remote.located([archive.file])
    zip_path = download.fetch(used.url, folder / archive.file.filename, sha256=used.sha256 or None,
                              progress=progress)
    try:
        if used.url == archive.file.url and archive.size is not None and zip_path.stat().st_size != archive.size:
            raise DatasetLayoutError(f"{archive.file.url} gave {zip_path.stat().st_size} bytes, but the "
                                     f"published archive has {archive.size}")
        _unpack(zip_path, dest, archive)
    except DatasetLayoutError:
        zip_path.unlink(missing_ok=True)
        raise
    return dest


def transforms(weights_enum: torchvision.models.WeightsEnum | None = None) -> dict[str, v2.Transform]:
    """Preprocessing of the photos: the weights' own for ``val``; random crops and flips for ``train`` (chapter 6).

    ``train`` follows the tutorial: ``RandomResizedCrop`` to the weights' crop size and
    ``RandomHorizontalFlip``, then the weights' normalization.
    """
    weights_enum = weights_enum or torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    evaluate = weights_enum.transforms()
    train = v2.Compose([v2.RandomResizedCrop(evaluate.crop_size[0], antialias=True), v2.RandomHorizontalFlip(),
                        v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True),
                        v2.Normalize(evaluate.mean, evaluate.std)])
    return {"train": train, "val": evaluate}


def image_folders(folder: Path, weights_enum: torchvision.models.WeightsEnum | None = None
                  ) -> dict[str, torchvision.datasets.ImageFolder]:
    """``{"train": ImageFolder, "val": ImageFolder}`` of an unpacked archive, with :func:`transforms` (chapter 6)."""
    return {split: torchvision.datasets.ImageFolder(str(folder / split), transform)
            for split, transform in transforms(weights_enum).items()}


# ---------------------------------------------------------------- the online part of chapter 6


@dataclass
class OnlineData:
    """What the online part needs: ImageNet's ResNet-18 and the photos (chapter 6)."""

    pretrained: weights.Pretrained
    folders: dict[str, torchvision.datasets.ImageFolder]
    note: str


def load_online(mode: str | None = None, progress: bool = True,
                archive: ImageArchive = HYMENOPTERA) -> tuple[OnlineData | None, str]:
    """ImageNet's ResNet-18 and the ants-and-bees photos, or None and why not (chapter 6).

    ``mode`` is decided by ``resnetbook.fallback.online_or_fallback``: ``standin`` downloads
    nothing and returns None; ``pretrained`` returns the data or raises; ``auto`` returns None
    when a download fails. The second value is the note for the page, in either case.
    """
    what = f"ImageNet's ResNet-18 and {archive.credit} ({archive.file.url})"

    def online() -> tuple[OnlineData, str]:
        pretrained = weights.load("resnet18_imagenet", "pretrained", progress=progress)
        folders = image_folders(fetch_archive(archive, progress))
        note = f"{pretrained.provenance} Photos: {archive.credit}, {archive_source(archive)}; {_sizes(folders)}."
        return OnlineData(pretrained, folders, note), note

    def offline(cause: str | None) -> tuple[None, str]:
        if cause is None:
            return None, (f"{fallback.ENV_VAR}=standin was set, so {what} were not downloaded: "
                          "this page runs only the offline task.")
        return None, (f"{what} could not be loaded in this build ({cause}): this page runs only the offline "
                      f"task ({fallback.ENV_VAR}=pretrained makes this an error).")

    return fallback.online_or_fallback(online, offline, mode, what="the online part of chapter 6")


def archive_source(archive: ImageArchive = HYMENOPTERA) -> str:
    """Where the archive comes from and what vouches for it, for the page's note (chapter 6)."""
    base = remote.mirror_base()
    if base is not None:
        return (f"{archive.file.url}, here from the mirror {base} ({remote.MIRROR_VAR}), checked against "
                f"its {remote.MIRROR_MANIFEST}")
    checked = f"its size ({archive.size:,} bytes) checked" if archive.size else "nothing but its layout checked"
    return f"{archive.file.url} (the publisher gives no checksum: {checked})"


def _sizes(folders: Mapping[str, torchvision.datasets.ImageFolder]) -> str:
    return ", ".join(f"{len(f)} {split}" for split, f in folders.items()) + " images in classes " + \
        " and ".join(next(iter(folders.values())).classes)


def loaders(folders: Mapping[str, torchvision.datasets.ImageFolder], batch_size: int = 16,
            seed: int = 0) -> dict[str, torch.utils.data.DataLoader]:
    """Shuffled training batches and ordered validation batches (chapter 6)."""
    generator = torch.Generator().manual_seed(seed)
    return {split: torch.utils.data.DataLoader(folder, batch_size=batch_size, shuffle=split == "train",
                                               generator=generator if split == "train" else None)
            for split, folder in folders.items()}


def train_epochs(model: torch.nn.Module, loader: torch.utils.data.DataLoader, epochs: int, lr: float = 1e-3,
                 train_mode=None, max_batches: int | None = None) -> list[float]:
    """SGD with momentum 0.9 as in the tutorial, on the parameters that require grad; mean loss per epoch (chapter 6).

    Steps through the shared :class:`~resnetbook.trainer.Trainer` (its precision policy and
    device rule). ``train_mode(model)`` sets the mode before each epoch (default
    ``model.train()``); ``max_batches`` cuts every epoch short (tests).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no parameter of the model requires grad: nothing to train")
    trainer = Trainer(model, torch.optim.SGD(params, lr=lr, momentum=0.9))
    losses = []
    for _ in range(epochs):
        (train_mode or torch.nn.Module.train)(model)
        total, seen = 0.0, 0
        for step, (xb, yb) in enumerate(loader):
            if max_batches is not None and step >= max_batches:
                break
            _, loss = trainer.step(xb, yb)
            total, seen = total + loss.item() * len(yb), seen + len(yb)
        losses.append(total / max(seen, 1))
    return losses


@torch.no_grad()
def predict(model: torch.nn.Module, loader: torch.utils.data.DataLoader,
            max_batches: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted class, true class)`` for every image of ``loader``, in eval mode (chapter 6)."""
    device = next(model.parameters()).device
    model.eval()
    pairs = [(model(xb.to(device)).argmax(1).cpu(), yb) for step, (xb, yb) in enumerate(loader)
             if max_batches is None or step < max_batches]
    return torch.cat([p for p, _ in pairs]), torch.cat([y for _, y in pairs])


def display_image(folder: torchvision.datasets.ImageFolder, index: int) -> torch.Tensor:
    """Image ``index`` of ``folder`` as the model sees it, un-normalized to [0, 1], ``[H,W,3]`` for ``imshow`` (chapter 6)."""
    x, _ = folder[index]
    t = folder.transform
    mean, std = torch.tensor(t.mean).view(3, 1, 1), torch.tensor(t.std).view(3, 1, 1)
    return (x * std + mean).clamp(0, 1).permute(1, 2, 0)


def show_predictions(axes, folder: torchvision.datasets.ImageFolder, indices, predicted) -> None:
    """Draw images ``indices`` of ``folder`` on ``axes``, titled with prediction and truth (chapter 6).

    ``predicted[i]`` is the class predicted for ``indices[i]``; a wrong one is titled in red.
    """
    import numpy as np

    flat = np.asarray(axes).ravel()
    if len(indices) > len(flat) or len(predicted) != len(indices):
        raise ValueError(f"{len(indices)} images, {len(predicted)} predictions for {len(flat)} axes")
    for ax in flat:
        ax.axis("off")
    for ax, index, pred in zip(flat, indices, predicted):
        truth = folder.targets[index]
        ax.imshow(display_image(folder, index).numpy())
        ax.set_title(f"{folder.classes[int(pred)]}\n(is {folder.classes[truth]})", fontsize=9,
                     color="black" if int(pred) == truth else "red")


def pick_examples(predicted: torch.Tensor, truth: torch.Tensor, n: int = 8, seed: int = 0) -> list[int]:
    """Indices of ``n`` images for a figure: up to ``n // 2`` mistakes, the rest right, in a seeded order (chapter 6)."""
    if n < 1 or len(predicted) != len(truth):
        raise ValueError(f"need n >= 1 and as many predictions as labels, got n={n}, {len(predicted)}, {len(truth)}")
    order = torch.randperm(len(truth), generator=torch.Generator().manual_seed(seed))
    wrong = [int(i) for i in order if predicted[i] != truth[i]][: n // 2]
    right = [int(i) for i in order if predicted[i] == truth[i]][: n - len(wrong)]
    chosen = set(wrong + right)
    return [int(i) for i in order if int(i) in chosen]
