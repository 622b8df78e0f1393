"""The static deploy graph of the lineage's Fast R-CNN: ``images`` uint8 ``[B, H, W, 3]`` and ``rois``
float32 ``[B, R, 4]`` (region proposals in canvas pixels; zero rows past an image's proposals) ->
the deployed model's four padded outputs.

It is ``DeployFasterRCNN`` without the RPN: the same preprocess, the same RoI node (here one level,
``mode=pool``), the same batched box head, per-class NMS and padding, so the math and its order are
those the Faster R-CNN export is checked on."""

from __future__ import annotations

import torch
from torch import Tensor

from edgedet.export.deploy_model import DeployFasterRCNN, PostprocessSpec
from edgedet.export.roi_spec import RoIMode
from edgedet.lineage.fast_rcnn import FastRCNN


def fast_rcnn_postprocess(model: FastRCNN, max_detections: int | None = None) -> PostprocessSpec:
    heads = model.roi_heads
    return PostprocessSpec(0, 0, 0.0, 0.0, 0.0, float(heads.score_thresh), float(heads.nms_thresh),
                           int(max_detections or heads.detections_per_img))


class DeployFastRCNN(DeployFasterRCNN):
    def __init__(self, model: FastRCNN, canvas: tuple[int, int], post: PostprocessSpec | None = None,
                 roi_mode: RoIMode = RoIMode.pool) -> None:
        super().__init__(model, canvas, post or fast_rcnn_postprocess(model), roi_mode)

    @torch.no_grad()
    def _init_constants(self, roi_mode: RoIMode) -> None:
        """Level shapes from one backbone run on a blank canvas; no anchors (no RPN)."""
        features = self.model.backbone(torch.zeros(1, 3, *self.canvas))
        self.level_shapes = {name: tuple(f.shape[-2:]) for name, f in features.items()}
        self.roi_feature_names, self.roi_spec = self.pooler_spec(self.model.roi_heads.box_roi_pool, roi_mode)

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        features = self.model.backbone(self.preprocess(images))
        valid = (rois[..., 2] > rois[..., 0]) & (rois[..., 3] > rois[..., 1])
        return self.detections(self.roi_features(features, rois), rois, valid)
