"""The static deploy graph of a two-stage detector, composed from parts as torchvision composes
``GeneralizedRCNN``: a backbone, a proposal source, the box stage, and an optional keypoint stage.

``DeployRCNN`` reuses the model's own modules (backbone, RPN head, RoI heads, box coders: the weights
are the same objects) and re-writes only the data-dependent glue: per-image lists become fixed
``[B, R, ...]`` tensors with validity masks, NMS becomes a keep mask (ONNX ``NonMaxSuppression``),
the multi-level RoI Align becomes one custom op, and the outputs are padded to K. The parts:

* proposals: ``RPNProposals`` (the model's RPN, anchors constants of the canvas), or, for a model
  without an RPN, an external ``rois`` input ``[B, R, 4]`` (canvas pixels, zero rows past an image's
  proposals): the caller brings them (the lineage's Fast R-CNN, fed selective search);
* ``BoxStage``: RoI features, the box head and predictor, per-class NMS, padding to K;
* ``KeypointStage`` (``deploy_keypoints.py``) when the RoI heads have a keypoint predictor.

The math of every step is torchvision's, in torchvision's order, so the results match the eager model.
The exporter picks parts by what the model has, not by its class, so it imports no model family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.ops import MultiScaleRoIAlign

from edgedet.architectures.roi_pool import MultiScaleRoIPool
from edgedet.export.custom_ops import nms_keep_mask, roi_align
from edgedet.export.roi_align_function import canvas_level_sizes, is_separable
from edgedet.export.roi_spec import RoIAlignSpec, RoIMode, infer_strides
from edgedet.export.row_major_head import RowMajorMLPHead
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


def postprocess_defaults(model: nn.Module) -> PostprocessSpec:
    """The model's own test-time settings; a model without an RPN has no proposal settings (zeros)."""
    rpn, heads = getattr(model, "rpn", None), model.roi_heads
    if rpn is None:
        return PostprocessSpec(0, 0, 0.0, 0.0, 0.0, float(heads.score_thresh), float(heads.nms_thresh),
                               int(heads.detections_per_img))
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


def pooler_spec(pooler: nn.Module, level_shapes: dict[str, tuple[int, int]], canvas: tuple[int, int],
                roi_mode: RoIMode) -> tuple[list[str], RoIAlignSpec]:
    """The feature maps a torchvision ``MultiScaleRoIAlign`` pools and its ``RoIAlignSpec`` on this canvas."""
    if not isinstance(pooler, MultiScaleRoIAlign):
        raise EdgedetError(f"unsupported RoI pooler {type(pooler).__name__}: expected MultiScaleRoIAlign")
    h, w = canvas
    names = [n for n in pooler.featmap_names if n in level_shapes]
    try:
        strides = infer_strides([level_shapes[n] for n in names], (h, w))
    except ValueError as exc:
        raise EdgedetError(f"cannot export this model at canvas {h}x{w}: {exc}") from None
    size = pooler.output_size
    mode = RoIMode.pool if isinstance(pooler, MultiScaleRoIPool) else RoIMode(roi_mode)  # trained with RoI Pool
    return names, RoIAlignSpec(tuple(strides), int(size[0]), int(pooler.sampling_ratio), False,
                               float(pooler.canonical_scale), int(pooler.canonical_level), mode=mode)


class RPNProposals(nn.Module):
    """The model's RPN as a fixed-shape proposal source: decode, per-level top-n, clip, filter, per-level
    NMS -> ``[B, R, 4]`` proposals and their ``[B, R]`` validity."""

    def __init__(self, rpn: nn.Module, features: list[Tensor], canvas: tuple[int, int], post: PostprocessSpec) -> None:
        super().__init__()
        self.rpn, self.canvas, self.post = rpn, canvas, post
        h, w = canvas
        anchors = rpn.anchor_generator(ImageList(torch.zeros(1, 3, h, w), [(h, w)]), features)[0]
        self.register_buffer("anchors", anchors, persistent=False)
        num_anchors = rpn.head.cls_logits.out_channels
        self.anchors_per_level = [f.shape[-2] * f.shape[-1] * num_anchors for f in features]
        levels = torch.cat([torch.full((n,), i) for i, n in enumerate(self.anchors_per_level)])
        self.level_count = len(self.anchors_per_level)
        self.register_buffer("anchor_levels", levels, persistent=False)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        rpn, post = self.rpn, self.post
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


def external_rois(rois: Tensor) -> tuple[Tensor, Tensor]:
    """Proposals the caller passed (``rois`` input): a row is a proposal when its box is not empty."""
    return rois, (rois[..., 2] > rois[..., 0]) & (rois[..., 3] > rois[..., 1])


class BoxStage(nn.Module):
    """RoI features -> box head + torchvision's ``postprocess_detections``, batched, per-class NMS, padded to K."""

    def __init__(self, roi_heads: nn.Module, canvas: tuple[int, int], post: PostprocessSpec,
                 feature_names: list[str], spec: RoIAlignSpec, rois_external: bool = False) -> None:
        super().__init__()
        self.heads, self.canvas, self.post = roi_heads, canvas, post
        self.feature_names, self.spec = feature_names, spec
        # an MLP head reads the RoI features in the layout RoI Align's products leave them in (the
        # direct lowering writes the node's own layout: nothing to cancel there)
        separable = is_separable(spec, canvas_level_sizes(spec, canvas), None if rois_external else canvas)
        self.mlp = (RowMajorMLPHead(roi_heads.box_head, spec.output_size)
                    if separable and RowMajorMLPHead.applies(roi_heads.box_head) else None)

    def forward(self, features: dict[str, Tensor], proposals: Tensor, valid: Tensor) -> tuple[Tensor, ...]:
        pooled = roi_align(proposals, [features[n] for n in self.feature_names], self.spec)
        heads, post = self.heads, self.post
        h, w = self.canvas
        b, r = proposals.shape[:2]
        x = self.mlp(pooled) if self.mlp is not None else heads.box_head(pooled.flatten(0, 1))
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


def has_keypoints(model: nn.Module) -> bool:
    return getattr(model.roi_heads, "keypoint_predictor", None) is not None


def takes_rois(model: nn.Module) -> bool:
    """A model without its own proposal stage: its deploy graph takes ``rois`` as a second input."""
    return getattr(model, "rpn", None) is None


class DeployRCNN(nn.Module):
    """uint8 ``[B, H, W, 3]`` RGB canvas (and ``rois`` for a model without an RPN) -> num_detections, boxes,
    scores, labels (padded to K), and a pose model's keypoints ``[B, K, J, 3]``."""

    def __init__(self, model: nn.Module, canvas: tuple[int, int], post: PostprocessSpec | None = None,
                 roi_mode: RoIMode = RoIMode.align) -> None:
        super().__init__()
        model = model.eval()
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.post = post or postprocess_defaults(model)
        self.backbone = model.backbone
        transform = model.transform
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(transform.image_std).view(1, 3, 1, 1), persistent=False)
        with torch.no_grad():  # level shapes (and anchors) are constants of the canvas: one run on a blank one
            features = self.backbone(torch.zeros(1, 3, *self.canvas))
        level_shapes = {name: tuple(f.shape[-2:]) for name, f in features.items()}
        self.rpn = None if takes_rois(model) else RPNProposals(model.rpn, list(features.values()), self.canvas,
                                                                self.post)
        heads = model.roi_heads
        names, self.roi_spec = pooler_spec(heads.box_roi_pool, level_shapes, self.canvas, roi_mode)
        self.box = BoxStage(heads, self.canvas, self.post, names, self.roi_spec, rois_external=self.rpn is None)
        self.keypoints = None
        if has_keypoints(model):
            from edgedet.export.deploy_keypoints import KeypointStage

            names, spec = pooler_spec(heads.keypoint_roi_pool, level_shapes, self.canvas, roi_mode)
            self.keypoints = KeypointStage(heads, self.canvas, names, spec)

    def preprocess(self, images: Tensor) -> Tensor:
        x = images.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        return (x - self.mean) / self.std

    def forward(self, images: Tensor, rois: Tensor | None = None) -> tuple[Tensor, ...]:
        features = self.backbone(self.preprocess(images))
        proposals, valid = self.rpn(list(features.values())) if self.rpn is not None else external_rois(rois)
        num, boxes, scores, labels = self.box(features, proposals, valid)
        if self.keypoints is None:
            return num, boxes, scores, labels
        return num, boxes, scores, labels, self.keypoints(features, boxes, num)
