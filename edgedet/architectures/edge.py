"""``fasterrcnn_edge_fpn``: a small Faster R-CNN that trains from scratch on a CPU in minutes.

It is torchvision's own ``FasterRCNN`` class over a five-stage conv backbone with an FPN,
so everything downstream (checkpoints, export, parity) treats it exactly like the
torchvision architectures; only the backbone is ours.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _stage(cin: int, cout: int, depth: int) -> nn.Sequential:
    """Downsample by two, then ``depth - 1`` more convs (deeper where the maps are small and cheap)."""
    return nn.Sequential(_conv_bn_relu(cin, cout, 2), *[_conv_bn_relu(cout, cout, 1) for _ in range(depth - 1)])


WIDTHS = (16, 32, 64, 128, 160)
DEPTHS = (2, 2, 3, 3)


class EdgeBackbone(nn.Sequential):
    """Stride-2 stem and four stages: strides 2, 4, 8, 16, 32 (children ``stem``, ``stage1``..``stage4``)."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS, depths: tuple[int, ...] = DEPTHS) -> None:
        super().__init__()
        self.add_module("stem", _conv_bn_relu(3, widths[0], 2))
        for i in range(1, len(widths)):
            self.add_module(f"stage{i}", _stage(widths[i - 1], widths[i], depths[i - 1]))


def fasterrcnn_edge_fpn(num_classes: int, **kwargs: Any) -> FasterRCNN:
    """FPN levels at strides 8/16/32 (+ a max-pooled 64) with anchors 16..128 px for small canvases."""
    widths = WIDTHS
    body = EdgeBackbone(widths, DEPTHS)
    backbone = BackboneWithFPN(
        body,
        return_layers={"stage2": "0", "stage3": "1", "stage4": "2"},
        in_channels_list=list(widths[2:]),
        out_channels=64,
        extra_blocks=LastLevelMaxPool(),
    )
    anchors = AnchorGenerator(sizes=((16,), (32,), (64,), (128,)), aspect_ratios=((0.5, 1.0, 2.0),) * 4)
    defaults: dict[str, Any] = {
        "min_size": 256,
        "max_size": 256,
        "rpn_pre_nms_top_n_train": 600,
        "rpn_post_nms_top_n_train": 300,
        "rpn_pre_nms_top_n_test": 500,
        "rpn_post_nms_top_n_test": 200,
        "box_batch_size_per_image": 48,
        "box_positive_fraction": 0.33,
    }
    return FasterRCNN(
        backbone,
        num_classes=None,
        # A conv head learns shape from few examples far faster than torchvision's default MLP head.
        box_head=FastRCNNConvFCHead((64, 7, 7), [64, 64], [256], norm_layer=nn.BatchNorm2d),
        box_predictor=FastRCNNPredictor(256, num_classes),
        rpn_anchor_generator=anchors,
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], output_size=7, sampling_ratio=2),
        **{**defaults, **kwargs},
    )
