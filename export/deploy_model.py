"""The static deploy graph of a torchvision Faster R-CNN.

``DeployFasterRCNN`` wraps a torchvision ``FasterRCNN`` (reusing its backbone, heads and box
coder, so the weights are the same objects) and re-writes only the data-dependent glue:
per-image lists become fixed ``[B, R, ...]`` tensors with validity masks, NMS becomes a
keep mask (ONNX ``NonMaxSuppression``), the multi-level RoI Align becomes one custom op,
and the outputs are padded to K. Anchors are constants of the canvas. The math of every
step is torchvision's, in torchvision's order, so the results match the eager model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.ops import MultiScaleRoIAlign

from edgedet.architectures.roi_pool import MultiScaleRoIPool
from edgedet.export.custom_ops import nms_keep_mask, roi_align
from edgedet.export.roi_spec import RoIAlignSpec, RoIMode, infer_strides
from edgedet.runtime.errors import EdgedetError

MASKED = -1.0  # score of a box that must not survive NMS; NMS thresholds sit at MASKED / 2


@dataclass(frozen=True)
class PostprocessSpec:
    rpn_pre_nms_top_n: int
    rpn_post_nms_top_n: int
    rpn_nms_thresh: float
    rpn_score_thresh: float
    rpn_min_size: float
    box_score_thresh: float
    box_nms_thresh: float
    max_detections: int


def postprocess_defaults(model: FasterRCNN) -> PostprocessSpec:
    rpn, heads = model.rpn, model.roi_heads
    return PostprocessSpec(
        rpn_pre_nms_top_n=int(rpn._pre_nms_top_n["testing"]),
        rpn_post_nms_top_n=int(rpn._post_nms_top_n["testing"]),
        rpn_nms_thresh=float(rpn.nms_thresh),
        rpn_score_thresh=float(rpn.score_thresh),
        rpn_min_size=float(rpn.min_size),
        box_score_thresh=float(heads.score_thresh),
        box_nms_thresh=float(heads.nms_thresh),
        max_detections=int(heads.detections_per_img),
    )


def _clip(boxes: Tensor, height: int, width: int) -> Tensor:
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return torch.stack((x, y), dim=-1).reshape(boxes.shape)


def batched_gather(x: Tensor, idx: Tensor) -> Tensor:
    """``x[b, idx[b]]`` for every image b, as one flat ``Gather`` on axis 0: the gather every
    runtime (TensorRT, onnxruntime, onnx.reference) supports the same way."""
    b, n = x.shape[:2]
    offsets = torch.arange(b, device=idx.device).unsqueeze(1) * n
    flat = x.reshape((b * n,) + tuple(x.shape[2:]))
    return flat[(idx + offsets).reshape(-1)].reshape(tuple(idx.shape) + tuple(x.shape[2:]))


def _not_small(boxes: Tensor, min_size: float) -> Tensor:
    return ((boxes[..., 2] - boxes[..., 0]) >= min_size) & ((boxes[..., 3] - boxes[..., 1]) >= min_size)


def torchvision_nms_boxes(boxes: Tensor, valid: Tensor, groups: Tensor) -> Tensor:
    """The boxes torchvision's ``batched_nms`` actually compares, per image.

    On the CPU, torchvision runs per-group NMS when it has more than 1000 boxes and otherwise
    its coordinate trick: every box shifted by ``group * (max_coordinate + 1)``. The shift
    changes the float rounding of IoU, so borderline suppressions differ between the two;
    doing the same shift under the same condition (a data-dependent ``Where``, not an ``If``)
    makes our NMS decisions torchvision's. ``boxes`` [B, ..., 4]; ``valid``/``groups`` [B, ...].
    """
    b = boxes.shape[0]
    shape = (b,) + (1,) * (valid.dim() - 1)
    count = valid.reshape(b, -1).sum(dim=1)
    masked = torch.where(valid.unsqueeze(-1), boxes, float("-inf")).reshape(b, -1)
    max_coord = torch.where(count > 0, masked.amax(dim=1), 0.0)
    offsets = groups.to(boxes.dtype) * (max_coord.view(shape) + 1.0)
    offsets = torch.where((count <= 1000).view(shape), offsets, 0.0)
    return boxes + offsets.unsqueeze(-1)


class DeployFasterRCNN(nn.Module):
    """uint8 ``[B, H, W, 3]`` RGB canvas -> num_detections, boxes, scores, labels (padded to K)."""

    def __init__(self, model: FasterRCNN, canvas: tuple[int, int], post: PostprocessSpec | None = None,
                 roi_mode: RoIMode = RoIMode.align) -> None:
        super().__init__()
        model = model.eval()
        self.model = model
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.post = post or postprocess_defaults(model)
        transform = model.transform
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(transform.image_std).view(1, 3, 1, 1), persistent=False)
        self._init_constants(roi_mode)

    @torch.no_grad()
    def _init_constants(self, roi_mode: RoIMode) -> None:
        """Run the backbone once on a blank canvas to learn level shapes; anchors become constants."""
        h, w = self.canvas
        dummy = torch.zeros(1, 3, h, w)
        features = self.model.backbone(dummy)
        feature_list = list(features.values())
        anchors = self.model.rpn.anchor_generator(ImageList(dummy, [(h, w)]), feature_list)[0]
        self.register_buffer("anchors", anchors, persistent=False)
        per_level = [f.shape[-2] * f.shape[-1] for f in feature_list]
        num_anchors = self.model.rpn.head.cls_logits.out_channels
        self.anchors_per_level = [n * num_anchors for n in per_level]
        self.level_shapes = {name: tuple(f.shape[-2:]) for name, f in features.items()}
        self.roi_feature_names, self.roi_spec = self.pooler_spec(self.model.roi_heads.box_roi_pool, roi_mode)
        levels = torch.cat([torch.full((n,), i) for i, n in enumerate(self.anchors_per_level)])
        self.level_count = len(self.anchors_per_level)
        self.register_buffer("anchor_levels", levels, persistent=False)

    def pooler_spec(self, pooler: nn.Module, roi_mode: RoIMode) -> tuple[list[str], RoIAlignSpec]:
        """The feature maps a torchvision ``MultiScaleRoIAlign`` pools and its ``RoIAlignSpec`` on this canvas."""
        if not isinstance(pooler, MultiScaleRoIAlign):
            raise EdgedetError(f"unsupported RoI pooler {type(pooler).__name__}: expected MultiScaleRoIAlign")
        h, w = self.canvas
        names = [n for n in pooler.featmap_names if n in self.level_shapes]
        try:
            strides = infer_strides([self.level_shapes[n] for n in names], (h, w))
        except ValueError as exc:
            raise EdgedetError(f"cannot export this model at canvas {h}x{w}: {exc}") from None
        size = pooler.output_size
        mode = RoIMode.pool if isinstance(pooler, MultiScaleRoIPool) else RoIMode(roi_mode)  # trained with RoI Pool
        return names, RoIAlignSpec(tuple(strides), int(size[0]), int(pooler.sampling_ratio), False,
                                   float(pooler.canonical_scale), int(pooler.canonical_level), mode=mode)

    # -- stages -----------------------------------------------------------------------------
    def preprocess(self, images: Tensor) -> Tensor:
        x = images.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        return (x - self.mean) / self.std

    def proposals(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        """RPN: decode, per-level top-n, clip, filter, per-level NMS -> fixed [B, R, 4] + valid [B, R]."""
        rpn, post = self.model.rpn, self.post
        h, w = self.canvas
        objectness, deltas = rpn.head(features)
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        b = features[0].shape[0]
        total = self.anchors.shape[0]
        boxes = rpn.box_coder.decode_single(deltas, self.anchors.repeat(b, 1)).view(b, total, 4)
        objectness = objectness.view(b, total)

        top_idx, offset = [], 0
        for n in self.anchors_per_level:
            k = min(post.rpn_pre_nms_top_n, n)
            top_idx.append(objectness[:, offset:offset + n].topk(k, dim=1).indices + offset)
            offset += n
        idx = torch.cat(top_idx, dim=1)  # [B, N]
        scores = torch.sigmoid(batched_gather(objectness, idx))
        boxes = batched_gather(boxes, idx)
        levels = self.anchor_levels[idx]  # [B, N]
        boxes = _clip(boxes, h, w)
        valid = _not_small(boxes, post.rpn_min_size) & (scores >= post.rpn_score_thresh)

        level_ids = torch.arange(self.level_count, device=boxes.device).view(1, -1, 1)
        in_level = levels.unsqueeze(1) == level_ids  # [B, L, N]
        nms_scores = torch.where(in_level & valid.unsqueeze(1), scores.unsqueeze(1), MASKED)
        nms_boxes = torchvision_nms_boxes(boxes, valid, levels)
        keep = nms_keep_mask(nms_boxes, nms_scores, post.rpn_nms_thresh, MASKED / 2).any(dim=1)

        r = min(post.rpn_post_nms_top_n, idx.shape[1])
        ranked = torch.where(keep, scores, MASKED).topk(r, dim=1)
        proposals = batched_gather(boxes, ranked.indices)
        return proposals, ranked.values > MASKED / 2

    def roi_features(self, features: dict[str, Tensor], proposals: Tensor) -> Tensor:
        return roi_align(proposals, [features[n] for n in self.roi_feature_names], self.roi_spec)

    def detections(self, pooled: Tensor, proposals: Tensor, valid: Tensor) -> tuple[Tensor, ...]:
        """Box head + torchvision's postprocess_detections, batched, per-class NMS, padded to K."""
        heads, post = self.model.roi_heads, self.post
        h, w = self.canvas
        b, r = proposals.shape[:2]
        x = heads.box_head(pooled.flatten(0, 1))
        class_logits, box_regression = heads.box_predictor(x)
        num_classes = class_logits.shape[-1]
        boxes = heads.box_coder.decode_single(box_regression, proposals.reshape(-1, 4))
        boxes = _clip(boxes.view(b, r, num_classes, 4), h, w)[:, :, 1:]  # drop background
        scores = torch.softmax(class_logits, -1).view(b, r, num_classes)[:, :, 1:]
        ok = (scores > post.box_score_thresh) & _not_small(boxes, 1e-2) & valid.unsqueeze(-1)
        masked = torch.where(ok, scores, MASKED)  # [B, R, C-1]

        # Each (image, class) is one NMS group: exactly torchvision's per-class batched_nms.
        c = num_classes - 1
        group_boxes = boxes.permute(0, 2, 1, 3).reshape(b * c, r, 4)
        group_scores = masked.permute(0, 2, 1).reshape(b * c, 1, r)
        labels = torch.arange(1, c + 1, device=boxes.device).view(1, c, 1).expand(b, c, r)
        nms_boxes = torchvision_nms_boxes(group_boxes.reshape(b, c, r, 4), ok.permute(0, 2, 1), labels)
        keep = nms_keep_mask(nms_boxes.reshape(b * c, r, 4), group_scores, post.box_nms_thresh, MASKED / 2)
        keep = keep.view(b, c * r)
        final = torch.where(keep, masked.permute(0, 2, 1).reshape(b, c * r), MASKED)
        k = min(post.max_detections, c * r)
        top = final.topk(k, dim=1)
        found = top.values > MASKED / 2
        out_boxes = batched_gather(group_boxes.reshape(b, c * r, 4), top.indices)
        out_boxes = torch.where(found.unsqueeze(-1), out_boxes, 0.0)
        out_scores = torch.where(found, top.values, 0.0)
        out_labels = torch.where(found, torch.div(top.indices, r, rounding_mode="floor") + 1, 0)
        num = found.sum(dim=1).to(torch.int32)
        return num, out_boxes, out_scores, out_labels

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = self.preprocess(images)
        features = self.model.backbone(x)
        proposals, valid = self.proposals(list(features.values()))
        pooled = self.roi_features(features, proposals)
        return self.detections(pooled, proposals, valid)
