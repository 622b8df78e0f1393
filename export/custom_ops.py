"""The two custom torch ops the deploy graph is written with.

``edgedet::multilevel_roi_align`` and ``edgedet::nms_keep_mask`` have eager
implementations (torchvision ops, so the deploy module runs and is testable in PyTorch)
and fake implementations with static output shapes (so ``torch.export`` never sees a
data-dependent size). The ONNX exporter maps them to our own node / standard ONNX in
``export.onnx_translation``.
"""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor

from edgedet.export.roi_spec import RoIAlignSpec, level_range


def level_of(rois: Tensor, canonical_scale: float, canonical_level: int, k_min: int, k_max: int,
             eps: float = 1e-6) -> Tensor:
    """torchvision's ``LevelMapper``: floor(l0 + log2(sqrt(area)/s0) + eps) clamped, minus k_min."""
    area = (rois[..., 2] - rois[..., 0]) * (rois[..., 3] - rois[..., 1])
    lvl = torch.floor(canonical_level + torch.log2(torch.sqrt(area) / canonical_scale) + eps)
    return (torch.clamp(lvl, min=k_min, max=k_max) - k_min).to(torch.int64)


@torch.library.custom_op("edgedet::multilevel_roi_align", mutates_args=())
def multilevel_roi_align(
    rois: Tensor,
    features: list[Tensor],
    strides: list[int],
    output_size: int,
    sampling_ratio: int,
    aligned: bool,
    canonical_scale: float,
    canonical_level: int,
    level_eps: float,
    mode: str,
) -> Tensor:
    """rois [B,R,4] canvas pixels, features finest first -> [B,R,C,S,S] (torchvision MultiScaleRoIAlign).

    The arguments are a ``RoIAlignSpec`` spelled out (custom ops take primitives only); call it
    through :func:`roi_align`."""
    b, r, _ = rois.shape
    k_min, k_max = level_range(strides)
    flat = rois.reshape(-1, 4)
    batch_idx = torch.arange(b, device=rois.device, dtype=rois.dtype).repeat_interleave(r)
    levels = level_of(flat, canonical_scale, canonical_level, k_min, k_max, level_eps)
    channels = features[0].shape[1]
    out = flat.new_zeros((b * r, channels, output_size, output_size))
    for lvl, (feat, stride) in enumerate(zip(features, strides)):
        idx = torch.where(levels == lvl)[0]
        if idx.numel() == 0:
            continue
        boxes = torch.cat([batch_idx[idx, None], flat[idx]], dim=1)
        if mode == "pool":
            out[idx] = torchvision.ops.roi_pool(feat, boxes, output_size, 1.0 / stride)
        else:
            out[idx] = torchvision.ops.roi_align(feat, boxes, output_size, 1.0 / stride, sampling_ratio, aligned)
    return out.reshape(b, r, channels, output_size, output_size)


@multilevel_roi_align.register_fake
def _(rois, features, strides, output_size, sampling_ratio, aligned, canonical_scale, canonical_level, level_eps,
      mode):
    b, r, _ = rois.shape
    return rois.new_empty((b, r, features[0].shape[1], output_size, output_size))


def roi_align(rois: Tensor, features: list[Tensor], spec: RoIAlignSpec) -> Tensor:
    """The custom op for one spec: the exporter turns it into one MultiLevelRoIAlign node."""
    return multilevel_roi_align(rois, features, list(spec.strides), spec.output_size, spec.sampling_ratio,
                                spec.aligned, spec.canonical_scale, spec.canonical_level, spec.level_eps,
                                spec.mode.value)


def spec_from_op_args(strides, output_size, sampling_ratio, aligned, canonical_scale, canonical_level, level_eps,
                      mode) -> RoIAlignSpec:
    """The inverse of :func:`roi_align`'s unpacking, for the ONNX translation."""
    return RoIAlignSpec(tuple(strides), output_size, sampling_ratio, aligned, canonical_scale, canonical_level,
                        level_eps, mode)


@torch.library.custom_op("edgedet::nms_keep_mask", mutates_args=())
def nms_keep_mask(boxes: Tensor, scores: Tensor, iou_threshold: float, score_threshold: float) -> Tensor:
    """ONNX NonMaxSuppression as a fixed-size mask: boxes [G,M,4], scores [G,C,M] -> keep [G,C,M] (bool).

    Within each (group, class), boxes scoring above ``score_threshold`` go through greedy
    NMS; a kept box is True. No cap on the kept count (the caller ranks with TopK).
    """
    keep = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    for g in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            cand = torch.where(scores[g, c] > score_threshold)[0]
            if cand.numel():
                kept = torchvision.ops.nms(boxes[g, cand], scores[g, c, cand], iou_threshold)
                keep[g, c, cand[kept]] = True
    return keep


@nms_keep_mask.register_fake
def _(boxes, scores, iou_threshold, score_threshold):
    return torch.empty(scores.shape, dtype=torch.bool, device=scores.device)
