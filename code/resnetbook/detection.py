"""Object detection with torchvision: detectors, their outputs, NMS, precision and recall (chapter 7).

Two kinds of detector, loaded by :func:`load` through :func:`resnetbook.weights.load`
(the same cache, mirror and offline fallback as every pretrained model of the book):

- online: torchvision's COCO detectors, Faster R-CNN with a ResNet-50-FPN backbone
  (Ren et al. 2015) and SSD300 with VGG-16 (Liu et al. 2016), pinned by their weight enums;
- the stand-in: ``fashion_detector``, torchvision's FCOS (Tian et al. 2019) on a small
  ResNet backbone (:class:`Backbone`), trained by this project on synthetic scenes of
  FashionMNIST items (:mod:`resnetbook.scenes`, ``python -m resnetbook.standins detector``).

Every detector returns, per image, ``{"boxes": [K, 4], "labels": [K], "scores": [K]}``
in eval mode; ``categories[label]`` names a label (0 is the background).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchvision.models import detection as tvd
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.resnet import BasicBlock
from torchvision.ops import FrozenBatchNorm2d, batched_nms, box_iou

from resnetbook import provenance, scenes, weights
# Drawing detections lives in detection_view; the chapter reaches it through this module.
from resnetbook.detection_view import caption_overflow as caption_overflow
from resnetbook.detection_view import caption_style as caption_style
from resnetbook.detection_view import DISPLAY_SIZE as DISPLAY_SIZE
from resnetbook.detection_view import clusters as clusters
from resnetbook.detection_view import enlarged as enlarged
from resnetbook.detection_view import for_display as for_display
from resnetbook.detection_view import show as show
from resnetbook.examples import Example, photo_examples
from resnetbook.images import Image, to_rgb_tensor, torchvision_preprocess
from resnetbook.remote import torchvision_file

ONLINE = "fasterrcnn_resnet50_fpn"  # the chapter's online detector
ONLINE_WEIGHTS = {ONLINE: tvd.FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
                  "ssd300_vgg16": tvd.SSD300_VGG16_Weights.COCO_V1}
STANDIN = "fashion_detector_standin"
STANDIN_META = "fashion_detector.json"
HELD_OUT_SEED = 7  # the scenes the stand-in is measured and shown on (test images)
Detections = dict[str, torch.Tensor]


# ---------------------------------------------------------------- the stand-in's network


class Backbone(nn.Module):
    """A small ResNet that ends at stride 8: ``conv1`` (stride 2), ``layer1``-``layer3`` of BasicBlocks (chapter 7).

    Named like ``torchvision.models.ResNet``; ``out_channels`` is what torchvision's
    detection heads read. A 96x96 scene gives a 12x12 feature map.
    """

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64), in_channels: int = 3) -> None:
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(widths[0], stride=1)
        self.layer2 = self._make_layer(widths[1], stride=2)
        self.layer3 = self._make_layer(widths[2], stride=2)
        self.out_channels = widths[2]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes: int, stride: int) -> nn.Sequential:
        """One BasicBlock; a 1x1 projection on the shortcut when the shape changes (option B)."""
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes))
        block = BasicBlock(self.inplanes, planes, stride, downsample)
        self.inplanes = planes
        return nn.Sequential(block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))


def fashion_detector(size: int = scenes.SceneConfig.size) -> tvd.FCOS:
    """The stand-in: torchvision's FCOS on :class:`Backbone`, for ``size`` x ``size`` scenes (chapter 7).

    One feature level at stride 8, so one anchor point per cell of size 8 (FCOS's
    centre sampling reaches 1.5 cells from a box's centre); the head has two 3x3
    convolutions per branch instead of four. Images are not resized.
    """
    backbone = Backbone()
    return tvd.FCOS(backbone, num_classes=len(scenes.CATEGORIES), min_size=size, max_size=size,
                    image_mean=[0.2] * 3, image_std=[0.3] * 3,  # about the scenes' pixel statistics
                    anchor_generator=AnchorGenerator(((8,),), ((1.0,),)),
                    head=FCOSHead(backbone.out_channels, 1, len(scenes.CATEGORIES), num_convs=2),
                    score_thresh=0.05, nms_thresh=0.5, detections_per_img=20, topk_candidates=200)


# ---------------------------------------------------------------- the registry


def scene_examples(n: int, preprocess) -> list[Example]:
    """The first ``n`` held-out scenes (FashionMNIST test images, seed :data:`HELD_OUT_SEED`) (chapter 7)."""
    from resnetbook import data

    fashion = data.load_fashion_mnist()
    shown = scenes.make_scenes(fashion.test_images, fashion.test_labels, n, HELD_OUT_SEED)
    return [Example(f"held-out scene {i}", np.repeat(s.image.numpy()[:, :, None], 3, axis=2),
                    preprocess(s.image.numpy())) for i, s in enumerate(shown)]


def image_to_input(image: Image) -> torch.Tensor:
    """An image as a detector's input: float ``[3, H, W]`` in [0, 1] (chapter 7)."""
    return to_rgb_tensor(image).float() / 255


def standin_text(meta: dict, entry: weights.StandinEntry, model: nn.Module, why: str) -> str:
    """The note on the stand-in detector, from its json (chapter 7)."""
    params = sum(p.numel() for p in model.parameters())
    return (f"Stand-in detector: `{meta['file'].rsplit('.', 1)[0]}`, {entry.kind} ({params:,} parameters), "
            f"trained by this project on {entry.dataset} (precision {meta['precision']:.2f} and recall "
            f"{meta['recall']:.2f} at IoU {meta['iou_threshold']} and score {meta['score_threshold']} on "
            f"{meta['held_out_scenes']:,} held-out scenes; {meta['steps']} steps, seed {meta['seed']}, "
            f"sha256 {provenance.short_digest(meta['sha256'])}); {why}.")


def faster_rcnn_resnet50_fpn() -> tvd.FasterRCNN:
    """``fasterrcnn_resnet50_fpn`` as torchvision builds it for its COCO weights, without downloading
    anything: frozen batch norm in the backbone, 91 COCO classes (chapter 7)."""
    backbone = resnet_fpn_backbone(backbone_name="resnet50", weights=None, norm_layer=FrozenBatchNorm2d,
                                   trainable_layers=3)
    return tvd.FasterRCNN(backbone, num_classes=91)


def _online(name: str, title: str, build, enum) -> weights.OnlineEntry:
    return weights.OnlineEntry(
        name=name, title=title, dataset="COCO", publisher=f"torchvision's `{type(enum).__name__}.{enum.name}`",
        checkpoint=torchvision_file(enum), build=build, categories=tuple(enum.meta["categories"]),
        preprocess=torchvision_preprocess(enum), examples=photo_examples, standin=STANDIN)


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, weights.Entry]:
    """The chapter's detectors, by name, in the form :func:`resnetbook.weights.load` takes (chapter 7)."""
    frcnn, ssd = ONLINE_WEIGHTS[ONLINE], ONLINE_WEIGHTS["ssd300_vgg16"]
    entries = [
        _online(ONLINE, "Faster R-CNN ResNet-50-FPN", faster_rcnn_resnet50_fpn, frcnn),
        # weights_backbone=None: the checkpoint holds the backbone too; nothing else is downloaded.
        _online("ssd300_vgg16", "SSD300 VGG-16", functools.partial(
            tvd.ssd300_vgg16, weights=None, weights_backbone=None, num_classes=91), ssd),
        weights.StandinEntry(name=STANDIN, build=fashion_detector, categories=scenes.CATEGORIES,
                             examples=scene_examples, meta_file=STANDIN_META,
                             dataset="synthetic scenes of FashionMNIST items",
                             kind="torchvision FCOS on a small ResNet backbone",
                             preprocess=lambda meta: image_to_input, describe=standin_text),
    ]
    return {entry.name: entry for entry in entries}


def published_box_map(name: str = ONLINE) -> float:
    """The COCO val2017 box mAP torchvision publishes for the weights of ``name`` (chapter 7)."""
    return float(ONLINE_WEIGHTS[name].meta["_metrics"]["COCO-val2017"]["box_map"])


def load(name: str = ONLINE, mode: str | None = None, progress: bool = True) -> weights.Pretrained:
    """A detector in eval mode with its categories and note: pretrained, or the stand-in (chapter 7).

    ``mode`` as in :func:`resnetbook.weights.load` (``$RESNETBOOK_WEIGHTS``).
    """
    return weights.load(name, mode, registry=registry(), progress=progress)


# ---------------------------------------------------------------- score threshold and NMS


@dataclass(frozen=True)
class PostProcess:
    """What a torchvision detector does after its heads: keep scores above ``score_thresh``,
    suppress boxes overlapping a better one of their class by more than ``nms_thresh`` IoU,
    keep the best ``detections_per_img`` (chapter 7)."""

    score_thresh: float
    nms_thresh: float
    detections_per_img: int


def _postprocessor(model: nn.Module) -> nn.Module:
    """Where a detector keeps its post-processing settings: ``roi_heads`` (Faster R-CNN) or itself."""
    return model.roi_heads if hasattr(model, "roi_heads") else model


def postprocess(model: nn.Module) -> PostProcess:
    """The post-processing settings of a torchvision detector (chapter 7)."""
    owner = _postprocessor(model)
    return PostProcess(float(owner.score_thresh), float(owner.nms_thresh), int(owner.detections_per_img))


@contextlib.contextmanager
def without_nms(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` whose output skips non-maximum suppression and the per-image limit, inside the block.

    An IoU threshold of 1 suppresses nothing (no two boxes overlap by more than 1);
    the score threshold stays, so the raw boxes are those NMS would receive (chapter 7).
    """
    owner, before = _postprocessor(model), postprocess(model)
    owner.nms_thresh, owner.detections_per_img = 1.0, 1_000_000
    try:
        yield model
    finally:
        owner.nms_thresh, owner.detections_per_img = before.nms_thresh, before.detections_per_img


def suppress(raw: Detections, settings: PostProcess) -> Detections:
    """Class-wise NMS and the per-image limit on raw detections, as torchvision's detectors do (chapter 7)."""
    keep = batched_nms(raw["boxes"], raw["scores"], raw["labels"], settings.nms_thresh)
    keep = keep[: settings.detections_per_img]
    return {key: value[keep] for key, value in raw.items()}


def same_detections(a: Detections, b: Detections) -> bool:
    """Whether ``a`` and ``b`` hold the same boxes, labels and scores, whatever the order of equal scores (chapter 7)."""
    def rows(d: Detections) -> list:
        return sorted(zip(d["scores"].tolist(), d["labels"].tolist(), map(tuple, d["boxes"].tolist())))
    return rows(a) == rows(b)


def above(detections: Detections, threshold: float) -> Detections:
    """The detections whose score is at least ``threshold`` (chapter 7)."""
    keep = detections["scores"] >= threshold
    return {key: value[keep] for key, value in detections.items()}


@torch.no_grad()
def detect(model: nn.Module, inputs: Sequence[torch.Tensor], batch_size: int = 16) -> list[Detections]:
    """``model``'s detections on ``inputs`` (float ``[3, H, W]`` each), in eval mode, on the CPU (chapter 7)."""
    model.eval()
    out: list[Detections] = []
    for start in range(0, len(inputs), batch_size):
        out += model(list(inputs[start:start + batch_size]))
    return [{key: value.cpu() for key, value in d.items()} for d in out]


# ---------------------------------------------------------------- precision and recall


def true_positives(detections: Detections, target: dict[str, torch.Tensor], iou_threshold: float = 0.5) -> int:
    """Detections matched to a box of the same class with IoU >= ``iou_threshold``, best score first,
    each box matched at most once (chapter 7)."""
    boxes, labels = target["boxes"], target["labels"]
    if len(boxes) == 0 or len(detections["boxes"]) == 0:
        return 0
    iou = box_iou(detections["boxes"].float(), boxes.float())
    iou[detections["labels"][:, None] != labels[None, :]] = -1  # another class never matches
    free = torch.ones(len(boxes), dtype=torch.bool)
    matched = 0
    for row in torch.argsort(detections["scores"], descending=True).tolist():
        candidates = torch.where(free & (iou[row] >= iou_threshold), iou[row], torch.tensor(-1.0))
        best = int(candidates.argmax())
        if candidates[best] >= iou_threshold:
            free[best] = False
            matched += 1
    return matched


@dataclass(frozen=True)
class Quality:
    """Precision and recall over many images, and the counts behind them (chapter 7)."""

    precision: float
    recall: float
    true_positives: int
    detections: int
    objects: int


def precision_recall(detections: Sequence[Detections], targets: Sequence[dict[str, torch.Tensor]],
                     score_threshold: float = 0.5, iou_threshold: float = 0.5) -> Quality:
    """Precision (matched / detections) and recall (matched / objects) of the detections scoring at
    least ``score_threshold``, matched at IoU >= ``iou_threshold`` (chapter 7). Empty ratios are 0."""
    if len(detections) != len(targets):
        raise ValueError(f"{len(detections)} detection lists for {len(targets)} targets")
    kept = [above(d, score_threshold) for d in detections]
    tp = sum(true_positives(d, t, iou_threshold) for d, t in zip(kept, targets))
    n_det, n_obj = sum(len(d["boxes"]) for d in kept), sum(len(t["boxes"]) for t in targets)
    return Quality(tp / n_det if n_det else 0.0, tp / n_obj if n_obj else 0.0, tp, n_det, n_obj)


def held_out_scenes(n: int, seed: int = HELD_OUT_SEED) -> list[scenes.Scene]:
    """``n`` scenes of FashionMNIST *test* images: none of their items was seen in training (chapter 7)."""
    from resnetbook import data

    fashion = data.load_fashion_mnist()
    return scenes.make_scenes(fashion.test_images, fashion.test_labels, n, seed)
