"""Chapter 7's detection module: precision and recall on hand-made boxes, NMS as torchvision does it,
the stand-in's checkpoint (sha256, loading, refusals) and the online loader against a served surrogate."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import torch
from torchvision.models.detection import FCOS, FasterRCNN
from torchvision.ops import FrozenBatchNorm2d

from detection_fixtures import write_faster_rcnn
from resnetbook import data, detection, remote, scenes, standins, weights
from resnetbook.download import DownloadError, file_digest
from support import serve
from weights_fixtures import sha256_of


def dets(boxes, labels, scores) -> dict[str, torch.Tensor]:
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
            "scores": torch.tensor(scores)}


def target(boxes, labels) -> dict[str, torch.Tensor]:
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}


# ---------------------------------------------------------------- precision and recall


GT = target([[0, 0, 10, 10], [20, 0, 30, 10]], [1, 2])


def test_one_right_and_three_kinds_of_wrong():
    found = dets([[0, 0, 10, 10],      # right: class 1, IoU 1
                  [0, 0, 10, 10],      # a duplicate of a matched box: wrong
                  [20, 0, 30, 10],     # the right place with the wrong class: wrong
                  [24, 0, 34, 10]],    # class 2 but IoU 6/14 < 0.5: wrong
                 [1, 1, 1, 2], [0.9, 0.8, 0.7, 0.6])
    assert detection.true_positives(found, GT) == 1
    quality = detection.precision_recall([found], [GT], score_threshold=0.0)
    assert (quality.precision, quality.recall) == (0.25, 0.5)
    assert (quality.true_positives, quality.detections, quality.objects) == (1, 4, 2)


def test_iou_of_exactly_the_threshold_counts():
    # [20, 0, 30, 20] against the object [20, 0, 30, 10]: intersection 100, union 200, IoU 0.5
    found = dets([[20, 0, 30, 20]], [2], [0.9])
    assert detection.true_positives(found, GT, iou_threshold=0.5) == 1
    assert detection.true_positives(found, GT, iou_threshold=0.51) == 0


def test_the_best_score_claims_an_object_first():
    # Both overlap object 1; the better-scoring, worse-placed box takes it, the other is a duplicate.
    found = dets([[0, 0, 10, 12], [0, 0, 10, 10]], [1, 1], [0.9, 0.95])
    assert detection.true_positives(found, GT) == 1
    found = dets([[0, 0, 10, 10], [0, 0, 10, 12]], [1, 1], [0.5, 0.95])
    assert detection.true_positives(found, GT) == 1


def test_the_score_threshold_selects_what_is_counted():
    found = dets([[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]], [1, 2, 3], [0.9, 0.4, 0.3])
    high = detection.precision_recall([found], [GT], score_threshold=0.5)
    low = detection.precision_recall([found], [GT], score_threshold=0.2)
    assert (high.precision, high.recall) == (1.0, 0.5)
    assert (low.precision, low.recall) == (pytest.approx(2 / 3), 1.0)
    nothing = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "scores": torch.zeros(0)}
    empty = detection.precision_recall([nothing], [GT])
    assert (empty.precision, empty.recall) == (0.0, 0.0)
    with pytest.raises(ValueError, match="targets"):
        detection.precision_recall([found], [GT, GT])


# ---------------------------------------------------------------- the committed stand-in


@pytest.fixture(scope="module")
def meta() -> dict:
    return standins.read_meta(meta_file=detection.STANDIN_META)


@pytest.fixture(scope="module")
def standin(meta) -> weights.Pretrained:
    return detection.load(mode="standin")


def test_json_records_recipe_seed_sha256_quality_and_time(meta):
    for key in ("file", "sha256", "precision", "recall", "iou_threshold", "score_threshold", "held_out_scenes",
                "held_out_seed", "scenes", "seed", "steps", "recipe", "architecture", "train_seconds",
                "torch_version"):
        assert key in meta, key
    path = standins.FOLDER / meta["file"]
    assert file_digest(path) == meta["sha256"]
    assert path.stat().st_size < 4 * 2**20  # a few MB at most
    assert meta["iou_threshold"] == 0.5 and meta["recipe"]["seed"] == meta["seed"]
    assert meta["scenes"] == dataclasses.asdict(scenes.SceneConfig())
    assert 0 < meta["train_seconds"] < 30 * 60, "minutes, not hours"


def test_standin_loads_as_fcos_with_its_note(standin, meta):
    assert standin.is_standin and isinstance(standin.model, FCOS) and not standin.model.training
    assert standin.categories == list(scenes.CATEGORIES)
    text = standin.provenance
    assert text.startswith("Stand-in detector: `fashion_detector`") and f"{meta['precision']:.2f}" in text
    assert "RESNETBOOK_WEIGHTS=standin" in text
    (example,) = standin.examples(1)
    assert example.input.shape == (3, 96, 96) and example.image.shape == (96, 96, 3)


def test_standin_reaches_its_recorded_quality(standin, meta):
    try:
        held_out = detection.held_out_scenes(meta["held_out_scenes"], meta["held_out_seed"])
    except data.DatasetNotFoundError as error:
        pytest.skip(f"FashionMNIST is absent: {error}")
    found = detection.detect(standin.model, [s.input() for s in held_out])
    quality = detection.precision_recall(found, [s.target() for s in held_out], meta["score_threshold"])
    assert quality.precision == pytest.approx(meta["precision"], abs=0.005)
    assert quality.recall == pytest.approx(meta["recall"], abs=0.005)


def test_without_nms_then_suppress_gives_the_detectors_output(standin):
    model = standin.model
    before = detection.postprocess(model)
    inputs = [s.input() for s in scenes.make_scenes(*_fake_items(), 4, seed=1)]
    expected = detection.detect(model, inputs)
    with detection.without_nms(model):
        assert detection.postprocess(model).nms_thresh == 1.0
        raw = detection.detect(model, inputs)
    assert detection.postprocess(model) == before
    for r, e in zip(raw, expected):
        assert len(r["scores"]) >= len(e["scores"])
        ours = detection.suppress(r, before)
        assert detection.same_detections(ours, e) and torch.equal(ours["scores"], e["scores"])
    with pytest.raises(RuntimeError), detection.without_nms(model):
        raise RuntimeError("the settings come back even after an error")
    assert detection.postprocess(model) == before


def _fake_items() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return (torch.rand(10, 28, 28) * 255).to(torch.uint8), torch.arange(10)


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_missing_or_altered_checkpoint_is_refused_clearly(meta, tmp_path, damage):
    folder = tmp_path / "standins"
    folder.mkdir()
    shutil.copy(standins.FOLDER / detection.STANDIN_META, folder)
    if damage == "altered":
        body = bytearray((standins.FOLDER / meta["file"]).read_bytes())
        body[len(body) // 2] ^= 0xFF
        (folder / meta["file"]).write_bytes(bytes(body))
    entry = dataclasses.replace(detection.registry()[detection.STANDIN], folder=folder)
    registry = {**detection.registry(), detection.STANDIN: entry}
    with pytest.raises(standins.StandinError, match=damage):
        weights.load(detection.ONLINE, "standin", registry=registry)


# ---------------------------------------------------------------- online, from a served surrogate


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detection-mirror")
    name = write_faster_rcnn(folder)
    (folder / remote.MIRROR_MANIFEST).write_text(f"{sha256_of((folder / name).read_bytes())}  {name}\n")
    url, server = serve(folder)
    yield url + "/", folder / name
    server.shutdown()
    server.server_close()


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    monkeypatch.delenv(remote.MIRROR_VAR, raising=False)
    return monkeypatch


def test_online_detector_loads_from_the_mirror(mirror, clean_env):
    url, path = mirror
    clean_env.setenv(remote.MIRROR_VAR, url)
    pre = detection.load(detection.ONLINE, "pretrained", progress=False)
    assert not pre.is_standin and isinstance(pre.model, FasterRCNN) and not pre.model.training
    assert isinstance(pre.model.backbone.body.bn1, FrozenBatchNorm2d), "built as torchvision builds it for COCO"
    assert f"from the mirror {url}" in pre.provenance and "Faster R-CNN ResNet-50-FPN trained on COCO" in pre.provenance
    saved = torch.load(path, weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in pre.model.state_dict().items())
    assert pre.categories[0] == "__background__" and len(pre.categories) == 91
    (photo,) = pre.examples(1)
    (found,) = detection.detect(pre.model, [photo.input])
    assert len(found["scores"]) > 0 and (found["labels"] == 1).any()  # the raised class among them


def test_auto_mode_without_the_file_falls_back_to_the_standin_and_says_why(mirror, clean_env, tmp_path):
    folder = tmp_path / "empty-mirror"
    folder.mkdir()
    (folder / remote.MIRROR_MANIFEST).write_text("")
    url, server = serve(folder)
    try:
        clean_env.setenv(remote.MIRROR_VAR, url + "/")
        pre = detection.load(detection.ONLINE, "auto", progress=False)
        assert pre.is_standin and pre.requested == detection.ONLINE and isinstance(pre.model, FCOS)
        assert "Faster R-CNN ResNet-50-FPN (COCO) could not be loaded" in pre.provenance
        with pytest.raises(DownloadError, match="lists no sha256"):
            detection.load(detection.ONLINE, "pretrained", progress=False)
    finally:
        server.shutdown()
        server.server_close()


def test_registry_pins_torchvisions_files():
    entries = detection.registry()
    for name, enum in detection.ONLINE_WEIGHTS.items():
        entry = entries[name]
        assert entry.checkpoint.url == enum.url and enum.url.endswith(entry.checkpoint.filename)
        assert entry.checkpoint.filename.split("-")[-1].startswith(entry.checkpoint.sha256)
        assert tuple(entry.categories) == tuple(enum.meta["categories"]) and entry.standin == detection.STANDIN
    assert detection.published_box_map() == 37.0


def test_enlarged_and_show():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = torch.arange(12, dtype=torch.uint8).reshape(3, 2, 2)
    big, found = detection.enlarged(image, dets([[0, 0, 1, 2]], [1], [0.5]), 3)
    assert big.shape == (3, 6, 6) and big[0, 5, 5] == image[0, 1, 1]
    assert found["boxes"].tolist() == [[0, 0, 3, 6]]
    with pytest.raises(ValueError):
        detection.enlarged(image, found, 0)
    padded, same = detection.for_display(image, dets([[0, 0, 1, 2]], [1], [0.5]), size=6, margin=4)
    assert padded.shape == (3, 6, 10) and padded[:, :, :6].equal(big) and not padded[:, :, 6:].any()
    assert same["boxes"].tolist() == [[0, 0, 3, 6]]
    photo = torch.full((3, 40, 100), 200, dtype=torch.uint8)  # landscape: its width becomes the size
    small, shrunk = detection.for_display(photo, dets([[10, 0, 50, 20]], [1], [0.5]), size=25)
    assert small.shape == (3, 10, 25) and shrunk["boxes"].tolist() == [[2.5, 0, 12.5, 5]]
    portrait, _ = detection.for_display(photo.transpose(1, 2), dets([[0, 10, 20, 50]], [1], [0.5]), size=25)
    assert portrait.shape == (3, 25, 10)
    fig, ax = plt.subplots()
    assert detection.show(ax, big, "t") is ax and ax.get_title() == "t"
    plt.close(fig)


def test_same_detections_ignores_the_order_of_equal_scores_only():
    a = dets([[0, 0, 1, 1], [2, 2, 3, 3]], [1, 2], [0.5, 0.5])
    b = dets([[2, 2, 3, 3], [0, 0, 1, 1]], [2, 1], [0.5, 0.5])
    assert detection.same_detections(a, b)
    assert not detection.same_detections(a, dets([[2, 2, 3, 3], [0, 0, 1, 1]], [1, 2], [0.5, 0.5]))
    assert not detection.same_detections(a, dets([[0, 0, 1, 1]], [1], [0.5]))


def test_clusters_group_boxes_that_overlap_the_groups_first_box() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 1, 10, 11], [52, 50, 62, 60.]])
    assert detection.clusters(boxes, 0.5) == [[0, 1, 3], [2, 4]]
    assert detection.clusters(boxes, 0.99) == [[0], [1], [2], [3], [4]]


def test_show_outlines_every_box_and_counts_each_group() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    boxes = torch.tensor([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60.]])
    fig, ax = plt.subplots()
    detection.show(ax, image, "t", boxes=boxes)
    assert len(ax.patches) == 3
    assert sorted(t.get_text() for t in ax.texts) == ["1 box", "2 boxes"]
    fig2, ax2 = plt.subplots()
    detection.show(ax2, image)
    assert len(ax2.patches) == 0 and len(ax2.texts) == 0
    plt.close(fig)
    plt.close(fig2)


def test_caption_overflow_is_what_a_caption_reaches_past_the_edge():
    from PIL import ImageFont

    font = ImageFont.truetype(detection.caption_style(16)["font"], 16)
    width = font.getlength("Pullover 0.65")
    boxes = torch.tensor([[10.0, 0, 20, 20], [200.0, 0, 220, 20]])
    assert 60 < width < 180  # a 13-character caption at 16 px
    assert detection.caption_overflow(400, boxes, ["Bag 0.90", "Pullover 0.65"]) == 0
    reach = detection.caption_overflow(220, boxes, ["Bag 0.90", "Pullover 0.65"])
    assert reach == int(200 + width + 2 - 220) + 1 and reach > 0
    assert detection.caption_overflow(220, boxes[:0], []) == 0
