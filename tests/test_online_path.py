"""The chapters' online path, offline: chapters 2-4, 6 and 7 in ``pretrained`` mode against a local mirror.

The published site is built with ImageNet's and Places365's real weights, which no
machine here can download. This test builds checkpoints in the *real formats*
(random weights, batch-norm statistics calibrated on photos, so activations have
the magnitudes of a trained network), serves them from 127.0.0.1 as a
``RESNETBOOK_MIRROR`` with a ``SHA256SUMS`` manifest, and executes the chapters with
``RESNETBOOK_WEIGHTS=pretrained``. It checks every online branch, shape and
assertion that does not depend on what the weights learned:

- ``resnet18-f37072fd.pth``: ResNet-18, 1000 classes, a plain state dict saved with
  ``torch.save``, under the name torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` gives it;
- ``resnet50_places365.pth.tar``: ResNet-50, 365 classes, in the Places365 authors'
  legacy checkpoint (``{'epoch', 'arch', 'state_dict', 'best_prec1'}``, ``module.``
  prefixes, no ``num_batches_tracked``, non-zip pickle protocol 2);
- ``categories_places365.txt`` in its real format (``/a/abbey 0``), with synthetic names;
- ``mountains.jpg``: a real JPEG (scikit-image's rocket photo stands in for it);
- ``hymenoptera_data.zip``: the ants-and-bees archive's layout and image counts, tiny JPEGs;
- ``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth``: torchvision's COCO Faster R-CNN as it builds it
  for those weights (frozen batch norm), random, one class made confident (``detection_fixtures``).

The fixture files are built once per session; each chapter runs in its own kernel,
in ``book/`` as the book build runs it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision
from nbclient import NotebookClient
from torchvision.transforms import v2

import cell_flow
from detection_fixtures import write_faster_rcnn
from hymenoptera_fixtures import write_zip
from resnetbook import data, examples, hymenoptera, images, remote, weights
from support import ROOT, serve, toc_sources
from weights_fixtures import sha256_of

# The chapters of _toc.yml that load pretrained weights or online data (a new one is picked up by itself).
ONLINE_CALLS = ("weights.load(", "hymenoptera.load_online(", "detection.load(")
CHAPTERS = [source.stem for source in toc_sources()
            if source.suffix == ".ipynb" and any(call in source.read_text() for call in ONLINE_CALLS)]
CELL_TIMEOUT = 600  # seconds
LOGIT_STD = 4.0  # about the spread of a trained ImageNet ResNet's logits on a photo


def photo_batches(size: int, n_batches: int = 3, batch: int = 8) -> list[torch.Tensor]:
    """Random crops and flips of scikit-image's photos, normalized like ImageNet (calibration data)."""
    torch.manual_seed(0)
    augment = v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True), v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(images.IMAGENET_MEAN, images.IMAGENET_STD),
    ])
    photos = [images.to_rgb_tensor(image) for image in data.sample_images().values()]
    return [torch.stack([augment(photos[(b * batch + i) % len(photos)]) for i in range(batch)])
            for b in range(n_batches)]


@torch.no_grad()
def calibrated(model: torch.nn.Module, size: int) -> torch.nn.Module:
    """``model`` with batch-norm statistics averaged over photos and ``fc`` scaled to trained-like logits.

    ``momentum=None`` makes ``running_mean``/``running_var`` plain averages over the
    batches seen, so every layer normalizes to about zero mean and unit variance.
    """
    batches = photo_batches(size)
    # ImageNet's conv1 filters differ in strength: bn1's running variances range from
    # about 0.01 to more than 8. Random filters give about 0.1 each, so spread them alike.
    model.conv1.weight.mul_(10 ** torch.empty(model.conv1.out_channels, 1, 1, 1).uniform_(-0.5, 1.0))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    for batch in batches:
        model(batch)
    for norm in norms:
        norm.momentum = 0.1  # as torchvision builds it
    model.eval()
    logits = model(batches[0])
    model.fc.weight.mul_(LOGIT_STD / logits.std().item())
    model.fc.bias.zero_()
    return model


def write_imagenet_resnet18(folder: Path) -> str:
    """ResNet-18 as torchvision publishes it: a plain state dict, named as its weight enum names it."""
    torch.manual_seed(18)
    model = calibrated(torchvision.models.resnet18(), 224)
    name = remote.torchvision_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1).filename
    torch.save(model.state_dict(), folder / name)
    return name


def write_places365_resnet50(folder: Path) -> str:
    """ResNet-50 as the Places365 authors published it: a DataParallel training checkpoint, legacy format."""
    torch.manual_seed(50)
    model = calibrated(torchvision.models.resnet50(num_classes=365), 256)
    state = {f"module.{key}": value for key, value in model.state_dict().items()
             if not key.endswith("num_batches_tracked")}  # PyTorch 0.x had none
    checkpoint = {"epoch": 90, "arch": "resnet50", "state_dict": state, "best_prec1": 54.65}
    name = "resnet50_places365.pth.tar"
    torch.save(checkpoint, folder / name, _use_new_zipfile_serialization=False, pickle_protocol=2)
    return name


def write_places365_categories(folder: Path) -> str:
    """365 lines in the real file's format, ``/a/abbey 0``, some with a subcategory."""
    lines = [f"/{chr(ord('a') + i % 26)}/scene_{i}" + ("/indoor" if i % 7 == 0 else "") + f" {i}"
             for i in range(365)]
    name = "categories_places365.txt"
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return name


def write_photo(folder: Path) -> str:
    """A real JPEG in place of the Places365 authors' mountains.jpg."""
    name = examples.PLACES365_PHOTO.filename
    shutil.copyfile(data.sample_image_dir() / "rocket.jpg", folder / name)
    return name


@pytest.fixture(scope="session")
def mirror(tmp_path_factory) -> Iterator[str]:
    """A folder of files in the real formats, with its SHA256SUMS, served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("mirror")
    names = [write_imagenet_resnet18(folder), write_places365_resnet50(folder),
             write_places365_categories(folder), write_photo(folder),
             write_zip(folder / hymenoptera.HYMENOPTERA.file.filename).name, write_faster_rcnn(folder)]
    manifest = "".join(f"{sha256_of((folder / name).read_bytes())}  {name}\n" for name in names)
    (folder / remote.MIRROR_MANIFEST).write_text(manifest, encoding="utf-8")
    url, server = serve(folder)
    yield url + "/"
    server.shutdown()
    server.server_close()


def test_fixture_files_have_the_real_formats(mirror, tmp_path, monkeypatch):
    """The served files load through the package as the real ones would (a quick check before the chapters)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv(remote.MIRROR_VAR, mirror)
    registry = weights.default_registry()
    for name in ("resnet18_imagenet", "resnet50_places365"):
        pre = weights.load(name, "pretrained", progress=False)
        assert not pre.is_standin and f"from the mirror {mirror}" in pre.provenance
        assert "not the published file" in pre.provenance  # random weights, and the note says so
        assert pre.model.fc.out_features == len(pre.categories)
        assert (tmp_path / "hub" / "checkpoints" / registry[name].checkpoint.filename).is_file()
    imagenet = weights.load("resnet18_imagenet", "pretrained", progress=False).model
    assert imagenet.bn1.running_var.max() > 8  # as in the real weights: absolute tolerances fail here
    places = torch.load(tmp_path / "hub" / "checkpoints" / "resnet50_places365.pth.tar", weights_only=True)
    assert sorted(places) == ["arch", "best_prec1", "epoch", "state_dict"]
    assert all(key.startswith("module.") for key in places["state_dict"])
    (photo,) = pre.examples(3)
    assert photo.name == "mountains.jpg" and photo.input.shape == (3, 256, 256) and photo.regions


def weights_note(notebook: nbformat.NotebookNode) -> str:
    """The text of the weights note the chapter shows after loading (``pre.note()``, ``detector.note()``
    or a ``WeightsNote``)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and any(call in cell.source for call in ("pre.note()", "detector.note()",
                                                                             "WeightsNote(")):
            for output in cell.get("outputs", []):
                if "text/markdown" in output.get("data", {}):
                    return output["data"]["text/markdown"]
    raise AssertionError("no cell shows the weights note's markdown")


def loads_online(cell: nbformat.NotebookNode) -> bool:
    """A cell whose result depends on the weights mode: it loads weights or online data."""
    return any(call in cell.source for call in ONLINE_CALLS)


@pytest.mark.slow(seconds={"06_shortcuts_transfer": 115, "07_detection_browser": 46}, default=17)
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_with_pretrained_weights(chapter, mirror, tmp_path, monkeypatch):
    """Every cell whose inputs the weights can change runs, and the note names the pretrained weights.

    The long cells that read nothing the weights change (chapter 6's FashionMNIST experiments)
    are the build's, and not executed again (tests/cell_flow.py).
    """
    monkeypatch.setenv(weights.ENV_VAR, "pretrained")
    monkeypatch.setenv(remote.MIRROR_VAR, mirror)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = ROOT / "book" / f"{chapter}.ipynb"
    chapter_notebook = nbformat.read(path, as_version=4)  # executed in memory: book/ is never written
    cells = cell_flow.plan([c for c in chapter_notebook.cells if c.cell_type == "code"], loads_online)
    notebook = cell_flow.without(chapter_notebook, cells.skipped)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    print(f"{chapter}: {time.perf_counter() - start:.0f} s, {len(cells.skipped)} long cells not executed again")
    assert cell_flow.skipped_name_errors(notebook, cells.skipped_names) == []
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert errors == []
    note = weights_note(notebook)
    assert "Pretrained weights:" in note and "Stand-in" not in note, note
    assert f"from the mirror {mirror}" in note
