"""The keypoint stage of a Keypoint R-CNN's deploy graph (a part of ``DeployRCNN``).

As in torchvision's ``RoIHeads`` at inference, the keypoint branch runs on the final detections: a
second multi-level RoI Align (the model's ``keypoint_roi_pool``, 14x14, one more ``MultiLevelRoIAlign``
node), the keypoint head and predictor (56x56 heatmap logits per joint), and the heatmap decode, here
the static one of ``keypoint_decode`` in place of torchvision's per-box resize loop. Padded detection
rows get zero keypoints.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgedet.export.custom_ops import roi_align
from edgedet.export.keypoint_decode import heatmaps_to_keypoints
from edgedet.export.roi_spec import RoIAlignSpec


class KeypointStage(nn.Module):
    """Final boxes ``[B, K, 4]`` and their count -> keypoints ``[B, K, J, 3]`` (x, y in canvas pixels and the
    joint's score)."""

    def __init__(self, roi_heads: nn.Module, canvas: tuple[int, int], feature_names: list[str],
                 spec: RoIAlignSpec) -> None:
        super().__init__()
        self.heads, self.canvas, self.feature_names, self.spec = roi_heads, canvas, feature_names, spec

    def forward(self, features: dict[str, Tensor], boxes: Tensor, num: Tensor) -> Tensor:
        heads = self.heads
        b, k = boxes.shape[:2]
        found = torch.arange(k, device=boxes.device).view(1, -1) < num.view(-1, 1)
        pooled = roi_align(boxes, [features[n] for n in self.feature_names], self.spec)
        logits = heads.keypoint_predictor(heads.keypoint_head(pooled.flatten(0, 1)))
        decoded = heatmaps_to_keypoints(logits, boxes.reshape(-1, 4), max(self.canvas))
        decoded = decoded.view(b, k, logits.shape[1], 3)
        return torch.where(found.view(b, k, 1, 1), decoded, 0.0)
