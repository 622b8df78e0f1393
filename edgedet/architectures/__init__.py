"""Architecture registry: names users type -> constructors of torchvision ``FasterRCNN`` models.

State-dict key names are the public contract: every constructor here builds exactly the
module tree torchvision builds for that name, so a torchvision checkpoint loads with
``strict=True`` and an edgedet checkpoint loads back into plain torchvision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torchvision.models import detection as tvd
from torchvision.models.detection import FasterRCNN

from edgedet.architectures.edge import fasterrcnn_edge_fpn
from edgedet.architectures.edge_keypoints import keypointrcnn_edge_fpn
from edgedet.architectures.roi_pool import use_roi_pool
from edgedet.runtime.errors import EdgedetError


@dataclass(frozen=True)
class ArchSpec:
    name: str
    build: Callable[..., FasterRCNN]
    canvas: tuple[int, int]  # default export / training canvas (H, W)
    torchvision: bool  # constructor is torchvision's own
    keypoints: int | None = None  # a Keypoint R-CNN: its default number of joints (torchvision's: COCO's 17)


def _tv(builder: Callable[..., FasterRCNN]) -> Callable[..., FasterRCNN]:
    def build(num_classes: int, **kwargs: Any) -> FasterRCNN:
        return builder(weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)

    return build


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("fasterrcnn_edge_fpn", fasterrcnn_edge_fpn, (256, 256), False),
        ArchSpec("fasterrcnn_resnet50_fpn", _tv(tvd.fasterrcnn_resnet50_fpn), (800, 800), True),
        ArchSpec("fasterrcnn_resnet50_fpn_v2", _tv(tvd.fasterrcnn_resnet50_fpn_v2), (800, 800), True),
        ArchSpec("fasterrcnn_mobilenet_v3_large_fpn", _tv(tvd.fasterrcnn_mobilenet_v3_large_fpn), (800, 800), True),
        ArchSpec(
            "fasterrcnn_mobilenet_v3_large_320_fpn", _tv(tvd.fasterrcnn_mobilenet_v3_large_320_fpn), (320, 320), True
        ),
        ArchSpec("keypointrcnn_edge_fpn", keypointrcnn_edge_fpn, (256, 256), False, keypoints=17),
        ArchSpec("keypointrcnn_resnet50_fpn", _tv(tvd.keypointrcnn_resnet50_fpn), (800, 800), True, keypoints=17),
    )
}


def get_arch(name: str) -> ArchSpec:
    if name not in ARCHITECTURES:
        raise EdgedetError(f"unknown architecture '{name}': choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def check_canvas(canvas: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(v) for v in canvas)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise EdgedetError(f"canvas {h}x{w} is not a positive multiple of 32 in both sides: use e.g. 320 or 640,480")
    return h, w


def build_model(arch: str, num_classes: int, canvas: tuple[int, int] | None = None, roi_mode: str = "align",
                **kwargs: Any) -> FasterRCNN:
    """Build ``arch`` with ``num_classes`` (background included) sized so the canvas is never resized;
    ``roi_mode="pool"`` swaps the box head's RoI Align for RoI Pool (``roi_pool.MultiScaleRoIPool``).

    torchvision resizes by min(min_size/short, max_size/long); setting both to the canvas
    sides makes that scale exactly 1 on canvas images, so eager and exported models see the
    same pixels.
    """
    spec = get_arch(arch)
    if num_classes < 2:
        raise EdgedetError(f"num_classes must count the background and at least one class, got {num_classes}")
    h, w = check_canvas(canvas or spec.canvas)
    model = spec.build(num_classes, min_size=min(h, w), max_size=max(h, w), **kwargs)
    if roi_mode == "pool":
        use_roi_pool(model)
    elif roi_mode != "align":
        raise EdgedetError(f"unknown RoI mode '{roi_mode}': choose align or pool")
    model.eval()
    return model


def set_proposal_budget(model: FasterRCNN, proposals: int, pre_nms: int | None = None) -> tuple[int, int]:
    """Keep ``proposals`` RPN proposals per image at inference (post-NMS top-n), scaling the pre-NMS
    top-n per level by the same factor unless ``pre_nms`` is given; returns (pre, post). Applied to the
    model itself, so the eager model and its export run the same budget (and the parity check
    compares like with like)."""
    if proposals < 1:
        raise EdgedetError(f"a proposal budget must be at least 1, got {proposals}")
    rpn = model.rpn
    pre, post = int(rpn._pre_nms_top_n["testing"]), int(rpn._post_nms_top_n["testing"])
    new_pre = int(pre_nms) if pre_nms else max(proposals, round(pre * proposals / post))
    rpn._pre_nms_top_n["testing"], rpn._post_nms_top_n["testing"] = new_pre, int(proposals)
    return new_pre, int(proposals)


def set_box_postprocess(model: FasterRCNN, score_thresh: float | None = None, nms_thresh: float | None = None,
                        max_detections: int | None = None) -> None:
    """The box head's score threshold, NMS IoU and detections per image (K), set on the model itself
    like ``set_proposal_budget``: the eager model and its export then keep the same detections, and a
    parity check compares like with like. ``None`` keeps the model's value."""
    heads = model.roi_heads
    if max_detections is not None:
        if max_detections < 1:
            raise EdgedetError(f"max_detections must be at least 1, got {max_detections}")
        heads.detections_per_img = int(max_detections)
    if score_thresh is not None:
        heads.score_thresh = float(score_thresh)
    if nms_thresh is not None:
        heads.nms_thresh = float(nms_thresh)
