"""The registry of pretrained models, with stand-ins for offline builds (chapters 2 and 4).

``load(name)`` returns a :class:`Pretrained`: the model in eval mode, its class
names, its preprocessing, a few example inputs and a one-line provenance. Which
weights load depends on ``RESNETBOOK_WEIGHTS``:

- ``auto`` (default): the pretrained weights from the cache or the internet;
  if that fails, the project's stand-in, with one line saying why.
- ``pretrained``: the pretrained weights or a clear error, never a stand-in.
- ``standin``: the stand-in, without touching the network.

The stand-in is ``fashion_resnet``, a small ResNet this project trains on
FashionMNIST (``python -m resnetbook.standins``); its recipe, seed, accuracy and
sha256 live next to it in ``standins/fashion_resnet.json``.

Every online file (checkpoints, category lists, chapter 4's photo) is a
:class:`RemoteFile`, fetched through :func:`resnetbook.download.fetch` into
torch.hub's cache and verified against its sha256. ``RESNETBOOK_MIRROR`` (a base
URL such as ``http://127.0.0.1:8000/``) makes every one of them come from a
mirror instead: a closed network's file server, or a test. The mirror serves each
file under its own name (``<mirror>/resnet18-f37072fd.pth``) and, at its root, a
``SHA256SUMS`` manifest in ``sha256sum``'s format (``<64 hex digits>  <file
name>`` per line) that states the checksum each file is verified against. A file
the manifest does not list is an error, never an unchecked download; the page's
note names the mirror, and says so when a file is not the published one (its
sha256 differs from the published digest). Make a manifest with
``sha256sum * > SHA256SUMS`` in the mirror's folder.
"""

from __future__ import annotations

import functools
import html
import importlib.resources
import json
import logging
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Callable, Mapping, Sequence, Union

import numpy as np
import torch
import torchvision
from PIL import Image as PILImage
from torch import nn
from torchvision.transforms.v2 import functional as TF

from resnetbook.architecture import counted_layers
from resnetbook.download import (
    DownloadError,
    UnsafeCheckpointError,
    fetch,
    file_digest,
    safe_load_checkpoint,
)

ENV_VAR = "RESNETBOOK_WEIGHTS"
log = logging.getLogger(__name__)
LOCAL_PATH = re.compile(r"(?<![:/\w])(?:/[^\s/:]+)+/([^\s/:]+)")  # /a/b/c.pth, not a URL
MIRROR_VAR = "RESNETBOOK_MIRROR"
MIRROR_MANIFEST = "SHA256SUMS"
MODES = ("auto", "pretrained", "standin")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STANDIN_META_KEYS = ("file", "sha256", "test_accuracy", "seed", "recipe", "mean", "std", "epochs")

Image = Union[np.ndarray, PILImage.Image, torch.Tensor]
Preprocess = Callable[[Image], torch.Tensor]
Box = tuple[float, float, float, float]  # top, bottom, left, right, as fractions of height and width


class StandinError(RuntimeError):
    """The stand-in weights are missing, altered, or do not fit their model."""


@dataclass(frozen=True)
class Example:
    """One example input: ``image`` to display, ``input`` to feed the model.

    ``credit`` says where the image comes from (markdown, for the page);
    ``regions`` names boxes of the image by what they show, drawn by hand for
    that one file (chapter 4 ranks units by their activation inside them).
    """

    name: str
    image: np.ndarray
    input: torch.Tensor
    label: int | None = None
    credit: str | None = None
    regions: Mapping[str, Box] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: ``sha256`` is a full digest or torchvision's 8+ digit prefix."""

    url: str
    filename: str
    sha256: str


ExampleSource = Callable[[int, Preprocess], list[Example]]


# ---------------------------------------------------------------- images in, tensors out


def _as_uint8_array(image: Image) -> np.ndarray:
    """Return an HxW or HxWxC (C = 1, 3, 4) uint8 array; raise ValueError otherwise."""
    if isinstance(image, PILImage.Image):
        image = image if image.mode in ("L", "RGB", "RGBA") else image.convert("RGB")
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (values 0-255), got dtype {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)):
        return array
    raise ValueError(f"expected an HxW or HxWx3 image, got shape {tuple(array.shape)}")


def to_rgb_tensor(image: Image) -> torch.Tensor:
    """An image as a uint8 Tensor[3,H,W]: gray is repeated, alpha dropped (chapters 2, 4)."""
    array = _as_uint8_array(image)
    if array.ndim == 2:
        array = array[:, :, None]
    array = np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def to_gray_tensor(image: Image) -> torch.Tensor:
    """An image as a float Tensor[1,H,W] in [0,1], with ITU-R 601 luma like PIL's "L" (chapters 2, 4)."""
    array = _as_uint8_array(image).astype(np.float32) / 255
    if array.ndim == 3:
        array = array[:, :, 0] if array.shape[2] == 1 else array[:, :, :3] @ np.float32([0.299, 0.587, 0.114])
    return torch.from_numpy(np.ascontiguousarray(array))[None]


def torchvision_preprocess(weights: torchvision.models.WeightsEnum) -> Preprocess:
    """Preprocessing of a torchvision weight enum (resize 256, crop 224, normalize)."""
    transforms = weights.transforms()
    return lambda image: transforms(to_rgb_tensor(image))


def places365_preprocess(image: Image) -> torch.Tensor:
    """Resize to 256x256 and normalize like ImageNet: Tensor[3,256,256] (chapter 4: 2048x8x8 maps)."""
    pixels = TF.resize(to_rgb_tensor(image), [256, 256], antialias=True)
    return TF.normalize(pixels.float() / 255, IMAGENET_MEAN, IMAGENET_STD)


def fashion_preprocess(mean: float, std: float) -> Preprocess:
    """Grayscale, 28x28, [0,1], normalized with the stand-in's own mean/std: Tensor[1,28,28]."""

    def preprocess(image: Image) -> torch.Tensor:
        gray = to_gray_tensor(image)
        if gray.shape[1:] != (28, 28):
            gray = TF.resize(gray, [28, 28], antialias=True)
        return (gray - mean) / std

    return preprocess


# ---------------------------------------------------------------- checkpoints and categories


def strip_module_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` that ``nn.DataParallel`` puts before every key (Places365 checkpoint)."""
    return {key.removeprefix("module."): value for key, value in state_dict.items()}


def places365_state_dict(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The model weights inside a Places365 training checkpoint (chapter 4)."""
    if "state_dict" not in checkpoint:
        raise ValueError(f"expected a 'state_dict' key in the checkpoint, found {sorted(checkpoint)}")
    return strip_module_prefix(checkpoint["state_dict"])


def parse_places365_categories(text: str) -> list[str]:
    """Display names from ``categories_places365.txt`` (chapter 4).

    ``/a/airfield 0`` -> "airfield", ``/a/amusement_park 7`` -> "amusement park",
    ``/s/subway_station/platform 308`` -> "subway station (platform)". The
    numbers must run 0, 1, 2, ... in order, so list index = class index.
    """
    names = []
    for number, line in enumerate(text.splitlines()):
        match = re.fullmatch(r"/[a-z]/(\S+)\s+(\d+)", line.strip())
        if match is None or int(match.group(2)) != number:
            raise ValueError(f"line {number + 1} of the categories file is not '/x/name {number}': {line!r}")
        scene, *detail = match.group(1).split("/")
        name = scene.replace("_", " ")
        names.append(f"{name} ({' '.join(d.replace('_', ' ') for d in detail)})" if detail else name)
    return names


def hub_checkpoint_dir() -> Path:
    """Where weights are cached: torch.hub's ``<TORCH_HOME>/hub/checkpoints`` (chapters 2, 4)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_file(weights: torchvision.models.WeightsEnum) -> RemoteFile:
    """The checkpoint of a torchvision weight enum, with the sha256 prefix its file name carries."""
    filename = weights.url.rsplit("/", 1)[-1]
    match = torch.hub.HASH_REGEX.search(filename)
    if match is None:
        raise ValueError(f"{filename} carries no sha256 prefix")
    return RemoteFile(weights.url, filename, match.group(1))


# ---------------------------------------------------------------- a mirror for online files


def parse_sha256sums(text: str) -> dict[str, str]:
    """A ``SHA256SUMS`` manifest as {file name: sha256} (``RESNETBOOK_MIRROR``).

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
    base = os.environ.get(MIRROR_VAR, "").strip()
    if not base:
        return None
    if urllib.parse.urlsplit(base).scheme not in ("http", "https", "file"):
        raise ValueError(f"{MIRROR_VAR} must be an http(s):// or file:// URL, got {base!r}")
    return base.rstrip("/") + "/"


def read_mirror_manifest(base: str) -> dict[str, str]:
    """The mirror's ``SHA256SUMS``, downloaded afresh (it is what every other file is checked against)."""
    url = base + MIRROR_MANIFEST
    with tempfile.TemporaryDirectory(prefix="resnetbook-mirror-") as folder:
        path = fetch(url, Path(folder) / MIRROR_MANIFEST, progress=False)
        text = path.read_text(encoding="utf-8")
    try:
        return parse_sha256sums(text)
    except ValueError as err:
        raise DownloadError(f"The mirror's manifest {url} is not in sha256sum's format: {err}. To fix "
                            f"it, write it with `sha256sum * > {MIRROR_MANIFEST}` in the mirror's folder.") from err


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
        raise DownloadError(
            f"The mirror {base} ({MIRROR_VAR}) lists no sha256 for {', '.join(missing)} in its "
            f"{MIRROR_MANIFEST}, so it cannot be verified. To fix it, put the file in the mirror's "
            f"folder and add the line that `sha256sum <file>` prints to {MIRROR_MANIFEST}, or unset "
            f"{MIRROR_VAR} to download from the publisher.")
    return [RemoteFile(base + urllib.parse.quote(file.filename), file.filename, manifest[file.filename])
            for file in files]


def fetch_file(file: RemoteFile, progress: bool = True) -> Path:
    """Download ``file`` (already :func:`located`) into torch.hub's cache, verified; return its path."""
    dest = hub_checkpoint_dir() / file.filename
    try:
        return fetch(file.url, dest, sha256=file.sha256, progress=progress)
    except DownloadError as err:  # the cause, then what to do about it
        raise DownloadError(
            f"{err}. To fix it, download {file.url} on a machine with internet access and copy it to "
            f"{dest} (it must have sha256 {file.sha256}); weights are cached under "
            "$TORCH_HOME/hub/checkpoints (TORCH_HOME defaults to ~/.cache/torch). Offline builds can "
            f"use the project's stand-in weights instead: set {ENV_VAR}=standin.") from err


def _source_note(published: RemoteFile, used: RemoteFile) -> str:
    """Where a file came from, for the page: the publisher's URL, or the mirror and whether it matches."""
    if used.url == published.url:
        return f"{published.url}, sha256 {_short_digest(published.sha256)}"
    same = used.sha256.startswith(published.sha256) or published.sha256.startswith(used.sha256)
    match = ("the published file" if same else
             f"not the published file, whose sha256 begins {published.sha256[:8]}")
    return (f"{published.url}, here from the mirror {used.url.rsplit('/', 1)[0]}/ ({MIRROR_VAR}), "
            f"sha256 {_short_digest(used.sha256)}: {match}")


# ---------------------------------------------------------------- examples


def photo_examples(n: int, preprocess: Preprocess) -> list[Example]:
    """Up to ``n`` natural photos from scikit-image, without labels (online weights)."""
    from resnetbook import data  # lazy: data imports scikit-image

    photos = list(data.sample_images().items())[:n]
    return [Example(name, image, preprocess(image), None) for name, image in photos]


# The Places365 authors' sample photo (their docker demo): sky, snow-capped peaks, a valley.
PLACES365_PHOTO = RemoteFile(
    "https://raw.githubusercontent.com/CSAILVision/places365/06218620d593de09ac4f9f39b72ea0d175990a24/"
    "docker/images/mountains.jpg",
    "mountains.jpg", "0092e75ff5c21dd19ef8ceed3bb21f1b25c012d8d810b359ed5b63677dff605f")
PLACES365_PHOTO_CREDIT = (
    "the sample photo in the Places365 authors' repository "
    "[CSAILVision/places365](https://github.com/CSAILVision/places365) (MIT License)")
# Drawn by hand on this photo (the file with the sha256 above) over an 8 x 8 grid: each box
# holds only what its name says. Row 0 left of column 2 is a mountain side, not sky; the right
# three columns below the peaks are a forested slope, not the valley floor.
PLACES365_PHOTO_REGIONS: dict[str, Box] = {
    "sky": (0.0, 1 / 8, 1 / 4, 1.0),
    "snow-capped peaks": (1 / 8, 3 / 8, 5 / 8, 7 / 8),
    "valley floor": (1 / 2, 1.0, 0.0, 5 / 8),
}


def places365_photo_examples(n: int, preprocess: Preprocess) -> list[Example]:
    """The Places365 authors' ``mountains.jpg`` with its named regions: one example (chapter 4)."""
    path = fetch_file(located([PLACES365_PHOTO])[0], progress=False)
    with PILImage.open(path) as photo:
        image = np.array(photo.convert("RGB"), dtype=np.uint8)  # writable, for torch
    return [Example("mountains.jpg", image, preprocess(image), None, PLACES365_PHOTO_CREDIT,
                    dict(PLACES365_PHOTO_REGIONS))][:n]


def fashion_examples(n: int, preprocess: Preprocess) -> list[Example]:
    """The first ``n`` FashionMNIST test images with their labels (stand-in weights)."""
    from resnetbook import data

    dataset = data.load_fashion_mnist()
    images = torch.as_tensor(dataset.test_images[:n]).numpy().copy()
    labels = torch.as_tensor(dataset.test_labels[:n]).tolist()
    return [
        Example(f"test image {i}", image, preprocess(image), label)
        for i, (image, label) in enumerate(zip(images, labels))
    ]


def fashion_classes() -> list[str]:
    from resnetbook import data

    return list(data.CLASSES)


def build_fashion_resnet() -> nn.Module:
    from resnetbook import models  # lazy: models is written by another engineer

    return models.fashion_resnet()


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class OnlineEntry:
    """Pretrained weights from the internet, and how to turn them into a model."""

    name: str
    title: str  # "ResNet-18"
    dataset: str  # "ImageNet" | "Places365"
    source: str  # who published the weights, in words
    checkpoint: RemoteFile
    build: Callable[[], nn.Module]
    categories: Sequence[str] | RemoteFile  # a list, or a text file to fetch and parse
    preprocess: Preprocess
    to_state_dict: Callable[[dict], dict] = lambda checkpoint: checkpoint
    parse_categories: Callable[[str], list[str]] = parse_places365_categories
    examples: ExampleSource = photo_examples
    standin: str = "fashion_resnet_standin"


@dataclass(frozen=True)
class StandinEntry:
    """Weights this project trained and committed, described by a json next to them."""

    name: str
    folder: Traversable | Path
    meta_file: str
    build: Callable[[], nn.Module]
    categories: Callable[[], Sequence[str]]
    examples: ExampleSource
    dataset: str = "FashionMNIST"
    kind: str = "CIFAR-style ResNet"


Entry = Union[OnlineEntry, StandinEntry]


def _imagenet_entry(name: str, title: str, weights, build: Callable[[], nn.Module]) -> OnlineEntry:
    return OnlineEntry(
        name=name, title=title, dataset="ImageNet",
        source=f"torchvision's `{type(weights).__name__}.{weights.name}`",
        checkpoint=torchvision_file(weights), build=build,
        categories=tuple(weights.meta["categories"]), preprocess=torchvision_preprocess(weights),
    )


@functools.lru_cache(maxsize=1)
def default_registry() -> dict[str, Entry]:
    """The models the book uses, by name (chapters 2 and 4)."""
    from torchvision.models import ResNet18_Weights, ResNet50_Weights, resnet18, resnet50

    places = "http://places2.csail.mit.edu/models_places365/resnet50_places365.pth.tar"
    categories = "https://raw.githubusercontent.com/CSAILVision/places365/master/categories_places365.txt"
    entries = [
        _imagenet_entry("resnet18_imagenet", "ResNet-18", ResNet18_Weights.IMAGENET1K_V1, resnet18),
        _imagenet_entry("resnet50_imagenet", "ResNet-50", ResNet50_Weights.IMAGENET1K_V1, resnet50),
        OnlineEntry(
            name="resnet50_places365", title="ResNet-50", dataset="Places365",
            source="the Places365 authors at MIT CSAIL",
            checkpoint=RemoteFile(places, "resnet50_places365.pth.tar",
                                  "46529c86902bd0cfb0ea562a30b2850c28d2620d96282b3db9c318e1d774f6c5"),
            build=functools.partial(resnet50, num_classes=365),
            categories=RemoteFile(categories, "categories_places365.txt",
                                  "2affba635eb657e7ca95f4e6cc69bd9fac29ef4c32aeb83cafdfcd06ec6a1ea6"),
            preprocess=places365_preprocess, to_state_dict=places365_state_dict,
            examples=places365_photo_examples,
        ),
        StandinEntry(
            name="fashion_resnet_standin",
            folder=importlib.resources.files("resnetbook").joinpath("standins"),
            meta_file="fashion_resnet.json", build=build_fashion_resnet,
            categories=fashion_classes, examples=fashion_examples,
        ),
    ]
    return {entry.name: entry for entry in entries}


# ---------------------------------------------------------------- what load() returns


@dataclass(frozen=True)
class WeightsNote:
    """A note box for the page: MyST admonition as markdown, a styled div as HTML."""

    text: str
    title: str = "Weights used on this page"

    def _repr_markdown_(self) -> str:
        return f":::{{note}} {self.title}\n{self.text}\n:::\n"

    def _repr_html_(self) -> str:
        # Sphinx themes style these classes as a note box; Jupyter shows plain text.
        body = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.text, quote=False))
        return (f'<div class="admonition note"><p class="admonition-title">{html.escape(self.title)}'
                f"</p><p>{body}</p></div>")

    def __repr__(self) -> str:
        return f"{self.title}: {self.text}"


@dataclass
class Pretrained:
    """A model ready for inference, with what a chapter needs around it (chapters 2 and 4).

    ``name`` is the entry actually loaded; ``requested`` the one asked for
    (they differ when a stand-in replaced the pretrained weights).
    """

    name: str
    model: nn.Module
    categories: list[str]
    preprocess: Preprocess
    is_standin: bool
    dataset: str
    provenance: str
    requested: str
    example_source: ExampleSource = field(repr=False)

    def examples(self, n: int = 8) -> list[Example]:
        """Up to ``n`` example inputs (FashionMNIST test images for the stand-in, photos otherwise)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        return self.example_source(n, self.preprocess)

    def note(self) -> WeightsNote:
        """The note a chapter shows right after loading: which weights, from where."""
        return WeightsNote(self.provenance)


# ---------------------------------------------------------------- loading


def _short_digest(digest: str) -> str:
    return digest[:8] + "…"


def _load_online(entry: OnlineEntry, progress: bool) -> Pretrained:
    remote = [entry.checkpoint] + ([entry.categories] if isinstance(entry.categories, RemoteFile) else [])
    ckpt, *text_file = located(remote)
    path = fetch_file(ckpt, progress)
    model = entry.build()
    model.load_state_dict(entry.to_state_dict(safe_load_checkpoint(path)))
    categories = entry.categories
    if text_file:
        categories = entry.parse_categories(fetch_file(text_file[0], progress).read_text(encoding="utf-8"))
    provenance = (f"Pretrained weights: {entry.title} trained on {entry.dataset}, published by "
                  f"{entry.source} ({_source_note(entry.checkpoint, ckpt)}).")
    return Pretrained(entry.name, model.eval(), list(categories), entry.preprocess, False,
                      entry.dataset, provenance, entry.name, entry.examples)


def read_standin_meta(entry: StandinEntry) -> dict:
    """The stand-in's json (recipe, seed, accuracy, sha256, mean/std), checked for its keys."""
    meta_path = entry.folder.joinpath(entry.meta_file)
    if not meta_path.is_file():
        raise StandinError(f"The stand-in weights' description {meta_path} is missing; "
                           "train them with `python -m resnetbook.standins` (or `make standins`).")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    missing = [key for key in STANDIN_META_KEYS if key not in meta]
    if missing:
        raise StandinError(f"{meta_path} lacks the keys {missing}")
    return meta


def _standin_model(entry: StandinEntry, meta: dict) -> nn.Module:
    """Build the stand-in and load its weights, after checking their sha256."""
    blob = entry.folder.joinpath(meta["file"])
    if not blob.is_file():
        raise StandinError(f"The stand-in weights {blob} are missing; train them with "
                           "`python -m resnetbook.standins` (or `make standins`).")
    with importlib.resources.as_file(blob) as path:
        digest = file_digest(path)
        if digest != meta["sha256"]:
            raise StandinError(f"{blob} has sha256 {digest}, but {entry.meta_file} records "
                               f"{meta['sha256']}: the file was altered; retrain or restore it.")
        checkpoint = safe_load_checkpoint(path)
    model = entry.build()
    model.load_state_dict(checkpoint.get("state_dict", checkpoint))
    return model.eval()


def _scalar(value: float | Sequence[float]) -> float:
    """A json mean/std as one number (a one-channel list is accepted)."""
    values = [value] if isinstance(value, (int, float)) else list(value)
    if len(values) != 1:
        raise StandinError(f"expected one mean/std for a gray image, got {value!r}")
    return float(values[0])


def _load_standin(entry: StandinEntry, requested: str, why: str) -> Pretrained:
    meta = read_standin_meta(entry)
    model = _standin_model(entry, meta)
    accuracy = float(meta["test_accuracy"])
    percent = accuracy * 100 if accuracy <= 1 else accuracy
    provenance = (
        f"Stand-in weights: `{Path(meta['file']).stem}`, a {entry.kind} with {len(counted_layers(model))} "
        f"weighted layers, trained by this project on {entry.dataset} (test accuracy {percent:.1f}%, "
        f"{meta['epochs']} epochs, seed {meta['seed']}, sha256 {_short_digest(meta['sha256'])}); {why}."
    )
    preprocess = fashion_preprocess(_scalar(meta["mean"]), _scalar(meta["std"]))
    return Pretrained(entry.name, model, list(entry.categories()), preprocess, True,
                      entry.dataset, provenance, requested, entry.examples)


def resolve_mode(mode: str | None = None) -> str:
    """The weights mode: the argument, else ``$RESNETBOOK_WEIGHTS``, else ``auto``."""
    mode = (mode or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if mode not in MODES:
        raise ValueError(f"{ENV_VAR} / mode must be one of {MODES}, got {mode!r}")
    return mode


def _why_failed(err: Exception) -> str:
    """The first sentence of an error, for the note: no advice, and local paths cut to file names."""
    sentence = str(err).splitlines()[0].split(". ")[0].rstrip(".")
    return LOCAL_PATH.sub(r"\1", sentence)


def load(name: str, mode: str | None = None, *, registry: dict[str, Entry] | None = None,
         progress: bool = True) -> Pretrained:
    """Load the model ``name`` for inference, pretrained or stand-in (chapters 2 and 4).

    ``mode`` overrides ``$RESNETBOOK_WEIGHTS`` (``auto`` | ``pretrained`` |
    ``standin``); ``registry`` replaces :func:`default_registry` (tests).
    """
    registry = default_registry() if registry is None else registry
    if name not in registry:
        raise ValueError(f"unknown weights {name!r}; choose one of {sorted(registry)}")
    entry, mode = registry[name], resolve_mode(mode)
    if isinstance(entry, StandinEntry):
        return _load_standin(entry, name, "it was requested by name")
    standin = registry[entry.standin]
    wanted = f"the pretrained {entry.title} ({entry.dataset})"
    if mode == "standin":
        return _load_standin(standin, name, f"{ENV_VAR}=standin was set, so {wanted} was not downloaded")
    if mode == "pretrained":
        return _load_online(entry, progress)
    try:
        return _load_online(entry, progress)
    except (DownloadError, UnsafeCheckpointError) as err:
        # Said in the note the page shows, not on stderr: a chapter's output would
        # carry it onto the page (and the book build fails on stderr).
        why = _why_failed(err)
        log.info("%s: %s; using the stand-in %s (%s=pretrained makes this an error)",
                 name, why, standin.name, ENV_VAR)
        return _load_standin(standin, name, f"{wanted} could not be loaded in this build ({why})")
