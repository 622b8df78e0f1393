"""Random pyramids, edge-case RoIs and torchvision's own RoI ops: the oracle for every RoI Align
implementation of ours (the Triton kernel, the ONNX function body)."""

from __future__ import annotations

import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

IMAGE = (128, 96)  # canvas H, W
STRIDES = (4, 8, 16, 32)


def pyramid(channels: int = 5, batch: int = 2, device: str = "cpu", dtype=torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, channels, IMAGE[0] // s, IMAGE[1] // s, generator=g).to(device, dtype) for s in STRIDES]


def random_rois(batch: int, count: int, seed: int = 1) -> torch.Tensor:
    """Tiny, huge, out-of-image, degenerate and ordinary boxes, across every level."""
    g = torch.Generator().manual_seed(seed)
    h, w = IMAGE
    xy = torch.rand(batch, count, 2, generator=g) * torch.tensor([w * 1.2, h * 1.2]) - 10
    side = torch.exp(torch.rand(batch, count, 2, generator=g) * 7.1 - 0.5)  # ~0.6 .. 730 px
    rois = torch.cat([xy, xy + side], dim=-1)
    rois[:, 0] = torch.tensor([5.0, 5.0, 5.0, 5.0])  # zero area
    rois[:, 1] = torch.tensor([-50.0, -40.0, -10.0, -5.0])  # entirely outside
    rois[:, 2] = torch.tensor([0.0, 0.0, float(w), float(h)])  # the whole canvas
    rois[:, 3] = torch.tensor([30.0, 20.0, 29.0, 25.0])  # x2 < x1
    rois[:, 4] = torch.tensor([10.0, 10.0, 10.5, 10.25])  # sub-pixel
    return rois


def reference(features, rois, sampling_ratio=2, aligned=False):
    """torchvision's MultiScaleRoIAlign, one image list entry per batch image."""
    names = [str(i) for i in range(len(features))]
    pooler = MultiScaleRoIAlign(names, 7, sampling_ratio)
    if aligned:  # MultiScaleRoIAlign has no aligned switch: route with its mapper, pool with roi_align
        return per_level(features, rois, lambda f, b, s: roi_align(f, b, 7, s, sampling_ratio, True))
    out = pooler(dict(zip(names, features)), list(rois), [IMAGE] * rois.shape[0])
    return out.view(rois.shape[0], rois.shape[1], *out.shape[1:])


def per_level(features, rois, op):
    from torchvision.ops.poolers import LevelMapper

    mapper = LevelMapper(2, 5)
    b, r, _ = rois.shape
    flat = rois.reshape(-1, 4)
    levels = mapper([flat])
    idx = torch.arange(b).repeat_interleave(r).to(flat)
    out = torch.zeros(b * r, features[0].shape[1], 7, 7, dtype=features[0].dtype)
    for lvl, (f, s) in enumerate(zip(features, STRIDES)):
        sel = torch.where(levels == lvl)[0]
        if len(sel):
            out[sel] = op(f, torch.cat([idx[sel, None], flat[sel]], 1), 1.0 / s)
    return out.view(b, r, *out.shape[1:])
