"""Chapter 7's self-checks: the typical wrong answers they catch (the contract every check keeps: test_exercise_contract.py)."""

from __future__ import annotations

import pytest
from torchvision.utils import draw_bounding_boxes

from chapter_code import fails
from resnetbook import check


# ---------------------------------------------------------------- box_captions


@pytest.mark.parametrize("answer, message", [
    (lambda labels, scores, cats: [cats[l] for l in labels.tolist()], "two decimals"),
    (lambda labels, scores, cats: [f"{cats[l]} {s:.3f}" for l, s in zip(labels.tolist(), scores.tolist())],
     "two decimals"),
    (lambda labels, scores, cats: [f"{l} {s:.2f}" for l, s in zip(labels.tolist(), scores.tolist())],
     "label's number"),
    (lambda labels, scores, cats: [f"{cats[l - 1]} {s:.2f}" for l, s in zip(labels.tolist(), scores.tolist())],
     "do not shift the label"),
    (lambda labels, scores, cats: [cats[l] + " " + str(s) for l, s in zip(labels.tolist(), scores)], "tensor"),
    (lambda labels, scores, cats: ", ".join(f"{cats[l]} {s:.2f}" for l, s in zip(labels.tolist(), scores.tolist())),
     "list of strings"),
])
def test_box_captions_names_the_mistake(answer, message):
    fails(check.box_captions, answer, message)


def test_an_alternative_correct_captions_pass(capsys):
    def captions(labels, scores, categories):
        return ["%s %.2f" % (categories[int(l)], float(s)) for l, s in zip(labels, scores)]

    check.box_captions(captions)


# ---------------------------------------------------------------- draw_detections


def _captions(d, cats, keep):
    return [f"{cats[l]} {s:.2f}" for l, s in zip(d["labels"][keep].tolist(), d["scores"][keep].tolist())]


def strict(image, d, cats, threshold=0.5):
    keep = d["scores"] > threshold
    return draw_bounding_boxes(image, d["boxes"][keep], labels=_captions(d, cats, keep)) if keep.any() else image


def everything(image, d, cats, threshold=0.5):
    keep = d["scores"] >= 0
    return draw_bounding_boxes(image, d["boxes"], labels=_captions(d, cats, keep))


def no_captions(image, d, cats, threshold=0.5):
    keep = d["scores"] >= threshold
    return draw_bounding_boxes(image, d["boxes"][keep]) if keep.any() else image


def class_only(image, d, cats, threshold=0.5):
    keep = d["scores"] >= threshold
    labels = [cats[l] for l in d["labels"][keep].tolist()]
    return draw_bounding_boxes(image, d["boxes"][keep], labels=labels) if keep.any() else image


def in_place(image, d, cats, threshold=0.5):
    keep = d["scores"] >= threshold
    if keep.any():
        image[:] = draw_bounding_boxes(image, d["boxes"][keep], labels=_captions(d, cats, keep))
    return image


def returns_the_input(image, d, cats, threshold=0.5):
    keep = d["scores"] >= threshold
    if keep.any():
        draw_bounding_boxes(image, d["boxes"][keep], labels=_captions(d, cats, keep))
    return image


def float_image(image, d, cats, threshold=0.5):
    keep = d["scores"] >= threshold
    out = draw_bounding_boxes(image, d["boxes"][keep], labels=_captions(d, cats, keep)) if keep.any() else image
    return out.float() / 255


@pytest.mark.parametrize("answer, message", [
    (strict, "equals the threshold"),
    (everything, "every box was drawn"),
    (no_captions, "without captions"),
    (class_only, "the captions were"),
    (in_place, "changed the image"),
    (returns_the_input, "outline"),
    (float_image, "uint8"),
])
def test_draw_detections_names_the_mistake(answer, message):
    fails(check.draw_detections, answer, message)


def test_other_colours_and_widths_pass_and_so_does_the_module_attribute(capsys):
    import torchvision

    def drawn(image, d, cats, threshold=0.5):
        keep = d["scores"] >= threshold
        if not keep.any():
            return image.clone()
        return torchvision.utils.draw_bounding_boxes(image, d["boxes"][keep], labels=_captions(d, cats, keep),
                                                     colors="yellow", width=3)

    check.draw_detections(drawn)
    assert "all 3 checks passed" in capsys.readouterr().out


def test_not_calling_draw_bounding_boxes_is_named():
    def by_hand(image, d, cats, threshold=0.5):
        out = image.clone()
        for x1, y1, x2, y2 in d["boxes"][d["scores"] >= threshold].int().tolist():
            out[:, y1, x1:x2 + 1] = 255
        return out

    fails(check.draw_detections, by_hand, "draw_bounding_boxes was not called")
