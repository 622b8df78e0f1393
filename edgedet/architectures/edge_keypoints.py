"""``keypointrcnn_edge_fpn``: the edge detector with torchvision's keypoint branch, small enough to
train from scratch on a CPU.

torchvision's own ``KeypointRCNN`` class over ``fasterrcnn_edge_fpn``'s backbone, anchors and box
head; the keypoint head is torchvision's ``KeypointRCNNHeads`` (3x3 convs on 14x14 RoI features)
with four 64-channel layers instead of eight of 512, and its ``KeypointRCNNPredictor`` (a stride-2
transposed conv and a x2 bilinear upsample to 56x56 heatmaps), so export and parity treat it like
``keypointrcnn_resnet50_fpn``.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.models.detection import KeypointRCNN
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from edgedet.architectures.edge import fasterrcnn_edge_fpn

KEYPOINT_LAYERS = (64, 64, 64, 64)


def keypointrcnn_edge_fpn(num_classes: int, num_keypoints: int = 17, **kwargs: Any) -> KeypointRCNN:
    base = fasterrcnn_edge_fpn(num_classes, **kwargs)
    model = KeypointRCNN(
        base.backbone,
        num_classes=None,
        rpn_anchor_generator=base.rpn.anchor_generator,
        box_roi_pool=base.roi_heads.box_roi_pool,
        box_head=base.roi_heads.box_head,
        box_predictor=base.roi_heads.box_predictor,
        keypoint_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], output_size=14, sampling_ratio=2),
        keypoint_head=KeypointRCNNHeads(base.backbone.out_channels, list(KEYPOINT_LAYERS)),
        keypoint_predictor=KeypointRCNNPredictor(KEYPOINT_LAYERS[-1], num_keypoints),
        min_size=base.transform.min_size, max_size=base.transform.max_size,
        rpn_pre_nms_top_n_train=base.rpn._pre_nms_top_n["training"],
        rpn_post_nms_top_n_train=base.rpn._post_nms_top_n["training"],
        rpn_pre_nms_top_n_test=base.rpn._pre_nms_top_n["testing"],
        rpn_post_nms_top_n_test=base.rpn._post_nms_top_n["testing"],
        box_batch_size_per_image=base.roi_heads.fg_bg_sampler.batch_size_per_image,
        box_positive_fraction=base.roi_heads.fg_bg_sampler.positive_fraction,
    )
    for module in model.roi_heads.keypoint_head.modules():  # torchvision's init for its own head
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return model
