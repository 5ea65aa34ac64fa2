"""The registry of pretrained models, with a stand-in for offline builds (chapters 2-4, 6; 7's detectors).

``load(name)`` returns a :class:`Pretrained`: the model in eval mode, its class
names, its preprocessing, a few example inputs and a note naming the weights.
Which weights load depends on ``RESNETBOOK_WEIGHTS``, decided by :mod:`resnetbook.fallback`:

- ``auto`` (default): the pretrained weights from the cache, the internet or
  ``RESNETBOOK_MIRROR`` (:mod:`resnetbook.remote`); if that fails, the
  project's stand-in, and the page's note says why.
- ``pretrained``: the pretrained weights or a clear error, never a stand-in.
- ``standin``: the stand-in, without touching the network.

The stand-in is ``fashion_resnet`` (:mod:`resnetbook.standins`), a small ResNet
this project trains on FashionMNIST; its recipe, seed, accuracy and sha256 live
next to it in ``standins/fashion_resnet.json``. An online entry names its stand-in
(``OnlineEntry.standin``): chapter 7's detectors (:mod:`resnetbook.detection`) pass
their own registry, whose stand-in is a detector.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18, resnet50

from resnetbook import data, models, provenance, standins
from resnetbook.fallback import ENV_VAR, online_or_fallback
from resnetbook.architecture import counted_layers
from resnetbook.download import safe_load_checkpoint
from resnetbook.examples import (Example, ExampleSource, fashion_examples, photo_examples,
                                 places365_photo_examples)
from resnetbook.images import Preprocess, fashion_preprocess, places365_preprocess, torchvision_preprocess
from resnetbook.remote import (MIRROR_MANIFEST, MIRROR_VAR, RemoteFile, fetch_file, hub_checkpoint_dir,
                               located, torchvision_file)

STANDIN = "fashion_resnet_standin"  # what replaces every online entry offline


# ---------------------------------------------------------------- the Places365 files


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


# ---------------------------------------------------------------- registry


@dataclass(frozen=True, kw_only=True)
class OnlineEntry:
    """Pretrained weights from the internet, and how to turn them into a model."""

    name: str
    title: str  # "ResNet-18"
    dataset: str  # "ImageNet" | "Places365"
    publisher: str  # who published the weights, in words
    checkpoint: RemoteFile
    build: Callable[[], nn.Module]
    categories: Sequence[str] | RemoteFile  # a list, or a text file to fetch and parse
    preprocess: Preprocess
    to_state_dict: Callable[[dict], dict] = lambda checkpoint: checkpoint
    parse_categories: Callable[[str], list[str]] = parse_places365_categories
    examples: ExampleSource = photo_examples
    standin: str = STANDIN  # the registry entry that replaces it offline

    def files(self) -> list[RemoteFile]:
        """The files to download: the checkpoint, and the categories when they are a file."""
        return [self.checkpoint] + ([self.categories] if isinstance(self.categories, RemoteFile) else [])


@dataclass(frozen=True, kw_only=True)
class StandinEntry:
    """Weights this project trained and committed, described by a json next to them."""

    name: str
    build: Callable[[], nn.Module]
    categories: Sequence[str]
    examples: ExampleSource
    folder: Path = standins.FOLDER
    meta_file: str = standins.META_FILE
    dataset: str = "FashionMNIST"
    kind: str = "CIFAR-style ResNet"
    # The preprocessing, from the json; and the note's text (meta, entry, model, why), when not a classifier's.
    preprocess: Callable[[dict], Preprocess] = lambda meta: fashion_preprocess(meta["mean"], meta["std"])
    describe: Callable[[dict, "StandinEntry", nn.Module, str], str] | None = None


Entry = Union[OnlineEntry, StandinEntry]


@functools.lru_cache(maxsize=1)
def default_registry() -> dict[str, Entry]:
    """The models the book uses, by name (chapters 2-4)."""
    imagenet = ResNet18_Weights.IMAGENET1K_V1
    places = "http://places2.csail.mit.edu/models_places365/resnet50_places365.pth.tar"
    categories = "https://raw.githubusercontent.com/CSAILVision/places365/master/categories_places365.txt"
    entries = [
        OnlineEntry(
            name="resnet18_imagenet", title="ResNet-18", dataset="ImageNet",
            publisher=f"torchvision's `{type(imagenet).__name__}.{imagenet.name}`",
            checkpoint=torchvision_file(imagenet), build=resnet18,
            categories=tuple(imagenet.meta["categories"]), preprocess=torchvision_preprocess(imagenet),
        ),
        OnlineEntry(
            name="resnet50_places365", title="ResNet-50", dataset="Places365",
            publisher="the Places365 authors at MIT CSAIL",
            checkpoint=RemoteFile(places, "resnet50_places365.pth.tar",
                                  "46529c86902bd0cfb0ea562a30b2850c28d2620d96282b3db9c318e1d774f6c5"),
            build=functools.partial(resnet50, num_classes=365),
            categories=RemoteFile(categories, "categories_places365.txt",
                                  "2affba635eb657e7ca95f4e6cc69bd9fac29ef4c32aeb83cafdfcd06ec6a1ea6"),
            preprocess=places365_preprocess, to_state_dict=places365_state_dict,
            examples=places365_photo_examples,
        ),
        StandinEntry(name=STANDIN, build=models.fashion_resnet, categories=data.CLASSES,
                     examples=fashion_examples),
    ]
    return {entry.name: entry for entry in entries}


# ---------------------------------------------------------------- what load() returns


@dataclass(frozen=True, kw_only=True)
class Pretrained:
    """A model ready for inference, with what a chapter needs around it (chapters 2-4).

    ``entry`` is the registry entry actually loaded, ``requested`` the name asked
    for (they differ when the stand-in replaced the pretrained weights).
    """

    entry: Entry = field(repr=False)
    requested: str
    model: nn.Module
    categories: list[str]
    preprocess: Preprocess = field(repr=False)
    provenance: str

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def dataset(self) -> str:
        return self.entry.dataset

    @property
    def is_standin(self) -> bool:
        return isinstance(self.entry, StandinEntry)

    def examples(self, n: int = 8) -> list[Example]:
        """Up to ``n`` example inputs (FashionMNIST test images for the stand-in, photos otherwise)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        return self.entry.examples(n, self.preprocess)

    def note(self) -> provenance.WeightsNote:
        """The note a chapter shows right after loading: which weights, from where."""
        return provenance.WeightsNote(self.provenance)


# ---------------------------------------------------------------- loading


def _load_online(entry: OnlineEntry, progress: bool) -> Pretrained:
    checkpoint, *category_file = located(entry.files())
    model = entry.build()
    model.load_state_dict(entry.to_state_dict(safe_load_checkpoint(fetch_file(checkpoint, progress))))
    categories = entry.categories
    if category_file:
        categories = entry.parse_categories(fetch_file(category_file[0], progress).read_text(encoding="utf-8"))
    text = provenance.pretrained_text(entry.title, entry.dataset, entry.publisher, entry.checkpoint, checkpoint)
    return Pretrained(entry=entry, requested=entry.name, model=model.eval(), categories=list(categories),
                      preprocess=entry.preprocess, provenance=text)


def _load_standin(entry: StandinEntry, requested: str, why: str) -> Pretrained:
    meta = standins.read_meta(entry.folder, entry.meta_file)
    model = standins.load_model(entry.build, meta, entry.folder)
    if entry.describe is not None:
        text = entry.describe(meta, entry, model, why)
    else:
        text = provenance.standin_text(meta, entry.kind, len(counted_layers(model)), entry.dataset, why)
    return Pretrained(entry=entry, requested=requested, model=model, categories=list(entry.categories),
                      preprocess=entry.preprocess(meta), provenance=text)


def _offline_advice(entry: OnlineEntry) -> str:
    """What a reader can do when the pretrained files cannot be downloaded."""
    urls = ", ".join(file.url for file in entry.files())
    return (f"To use these weights without internet access, download {urls} elsewhere and copy the "
            f"files into {hub_checkpoint_dir()} (torch.hub's cache, under $TORCH_HOME), or serve them "
            f"from a mirror named by {MIRROR_VAR}, with a {MIRROR_MANIFEST} file. Or set {ENV_VAR}=standin "
            f"to use the project's stand-in weights.")


def load(name: str, mode: str | None = None, *, registry: dict[str, Entry] | None = None,
         progress: bool = True) -> Pretrained:
    """Load the model ``name`` for inference, pretrained or stand-in (chapters 2-4).

    ``mode`` overrides ``$RESNETBOOK_WEIGHTS`` (``auto`` | ``pretrained`` |
    ``standin``); ``registry`` replaces :func:`default_registry` (tests).
    """
    registry = default_registry() if registry is None else registry
    if name not in registry:
        raise ValueError(f"unknown weights {name!r}; choose one of {sorted(registry)}")
    entry = registry[name]
    if isinstance(entry, StandinEntry):
        return _load_standin(entry, name, "it was requested by name")
    wanted = f"the pretrained {entry.title} ({entry.dataset})"

    def standin(cause: str | None) -> Pretrained:
        why = (f"{ENV_VAR}=standin was set, so {wanted} was not downloaded" if cause is None
               else f"{wanted} could not be loaded in this build ({cause})")
        return _load_standin(registry[entry.standin], name, why)

    return online_or_fallback(lambda: _load_online(entry, progress), standin, mode,
                              advice=lambda: _offline_advice(entry), what=f"{name} (stand-in {entry.standin})")
