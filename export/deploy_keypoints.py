"""The static deploy graph of a torchvision Keypoint R-CNN: ``DeployFasterRCNN`` plus the keypoint branch.

As in torchvision's ``RoIHeads`` at inference, the keypoint branch runs on the final detections:
a second multi-level RoI Align (the model's ``keypoint_roi_pool``, 14x14, one more
``MultiLevelRoIAlign`` node), the keypoint head and predictor (56x56 heatmap logits per joint),
and the heatmap decode, here the static one of ``keypoint_decode`` in place of torchvision's
per-box resize loop. Padded detection rows get zero keypoints.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection import KeypointRCNN

from edgedet.export.custom_ops import roi_align
from edgedet.export.deploy_model import DeployFasterRCNN, PostprocessSpec
from edgedet.export.keypoint_decode import heatmaps_to_keypoints
from edgedet.export.roi_spec import RoIMode


class DeployKeypointRCNN(DeployFasterRCNN):
    """uint8 ``[B, H, W, 3]`` -> num_detections, boxes, scores, labels, keypoints ``[B, K, J, 3]``
    (x, y in canvas pixels and the joint's score)."""

    def __init__(self, model: KeypointRCNN, canvas: tuple[int, int], post: PostprocessSpec | None = None,
                 roi_mode: RoIMode = RoIMode.align) -> None:
        super().__init__(model, canvas, post, roi_mode)
        self.keypoint_feature_names, self.keypoint_spec = self.pooler_spec(model.roi_heads.keypoint_roi_pool, roi_mode)

    def keypoints(self, features: dict[str, Tensor], boxes: Tensor, found: Tensor) -> Tensor:
        heads = self.model.roi_heads
        b, k = boxes.shape[:2]
        pooled = roi_align(boxes, [features[n] for n in self.keypoint_feature_names], self.keypoint_spec)
        logits = heads.keypoint_predictor(heads.keypoint_head(pooled.flatten(0, 1)))
        decoded = heatmaps_to_keypoints(logits, boxes.reshape(-1, 4), max(self.canvas))
        decoded = decoded.view(b, k, logits.shape[1], 3)
        return torch.where(found.view(b, k, 1, 1), decoded, 0.0)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        x = self.preprocess(images)
        features = self.model.backbone(x)
        proposals, valid = self.proposals(list(features.values()))
        pooled = self.roi_features(features, proposals)
        num, boxes, scores, labels = self.detections(pooled, proposals, valid)
        found = torch.arange(boxes.shape[1], device=boxes.device).view(1, -1) < num.view(-1, 1)
        return num, boxes, scores, labels, self.keypoints(features, boxes, found)
