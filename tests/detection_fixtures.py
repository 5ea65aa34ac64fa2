"""A surrogate of torchvision's COCO Faster R-CNN ResNet-50-FPN checkpoint, in its real format (chapter 7 tests).

The real file (``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth``) is a plain state dict saved with
``torch.save`` from the model torchvision builds for those weights (frozen batch norm in the
backbone, 91 classes). The surrogate is that model with random weights, saved the same way
under the same name. One class's bias is raised so that the random detector does return
confident boxes, and every branch after it (score threshold, NMS, drawing) has work to do.
"""

from __future__ import annotations

from pathlib import Path

import torch

from resnetbook import detection, remote

PERSON = 1  # COCO's "person"


def write_faster_rcnn(folder: Path) -> str:
    """Write the surrogate checkpoint into ``folder``; return its file name."""
    torch.manual_seed(7)
    model = detection.faster_rcnn_resnet50_fpn()
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[PERSON] = 4.5  # scores from about 0.2 to 0.98
    name = remote.torchvision_file(detection.ONLINE_WEIGHTS[detection.ONLINE]).filename
    torch.save(model.state_dict(), folder / name)
    return name
