"""Seeded random weights that still produce distinct detections, for parity checks and benchmarks.

An untrained torchvision detector is degenerate in two ways: its BatchNorm layers carry the
default running statistics (mean 0, var 1), so activations either die or explode, and its class
head (std 0.01) scores every class ~1/num_classes. Both give *tied* scores, and a parity check
on ties says nothing. So: re-estimate the BatchNorm statistics on synthetic images (a standard
BN recalibration), then draw the heads with a larger spread.

The calibration images are synthetic scenes plus, where scikit-image is installed, three of
its photos that the parity check does not use. Statistics from synthetic scenes alone blow
natural photos' activations up (RPN objectness logits of 50 on a photo), and a sigmoid that
rounds thousands of anchors to exactly 1.0 turns the RPN's top-n into a tie-break between
two equally right sorts.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgedet.architectures import build_model

CALIBRATION_PHOTOS = ("immunohistochemistry", "retina", "hubble_deep_field")  # not among export.check's


def calibration_canvases(canvas: tuple[int, int], seed: int = 0, synthetic: int = 4) -> list[np.ndarray]:
    """Synthetic scenes, then scikit-image photos (when installed) letterboxed into the canvas."""
    from edgedet.data.synthetic import render_image
    from edgedet.runtime.letterbox import letterbox

    rng = np.random.default_rng(seed)
    canvases = [render_image(rng, canvas)[0] for _ in range(synthetic)]
    try:
        from skimage import data
    except ImportError:
        return canvases
    return canvases + [letterbox(getattr(data, name)(), canvas)[0] for name in CALIBRATION_PHOTOS]


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, canvas: tuple[int, int], seed: int = 0, images: int = 4) -> nn.Module:
    from edgedet.eager_detector import canvas_tensor

    batch = torch.stack([canvas_tensor(c) for c in calibration_canvases(canvas, seed, images)])
    batch = (batch - torch.tensor(model.transform.image_mean).view(1, 3, 1, 1)) / torch.tensor(
        model.transform.image_std).view(1, 3, 1, 1)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batch
        m.train()
    features = model.backbone(batch)
    h, w = canvas
    g = torch.Generator().manual_seed(seed)
    count = len(batch)  # synthetic scenes plus the photos
    xy = torch.rand(count, 64, 2, generator=g) * torch.tensor([w * 0.8, h * 0.8])
    wh = torch.rand(count, 64, 2, generator=g) * torch.tensor([w * 0.5, h * 0.5]) + 8
    boxes = [torch.cat([p, (p + s).clamp(max=torch.tensor([w, h]))], 1) for p, s in zip(xy, wh)]
    pooled = model.roi_heads.box_roi_pool(features, boxes, [canvas] * count)
    model.roi_heads.box_head(pooled)
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def spread_heads(model: nn.Module, seed: int = 1, logit_scale: float = 2.0) -> nn.Module:
    """Class logits with a spread of about ``logit_scale`` (weights std logit_scale / sqrt(fan-in))."""
    g = torch.Generator().manual_seed(seed)
    predictor = model.roi_heads.box_predictor
    rpn_cls = model.rpn.head.cls_logits
    fan_in = predictor.cls_score.weight.shape[1]
    with torch.no_grad():
        predictor.cls_score.weight.copy_(torch.randn(predictor.cls_score.weight.shape, generator=g)
                                         * logit_scale / fan_in ** 0.5)
        predictor.bbox_pred.weight.copy_(torch.randn(predictor.bbox_pred.weight.shape, generator=g) * 0.01)
        rpn_cls.weight.copy_(torch.randn(rpn_cls.weight.shape, generator=g) * 0.1)
    return model.eval()


def seeded_model(arch: str, num_classes: int, canvas: tuple[int, int] | None = None, seed: int = 0,
                 logit_scale: float = 2.0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(arch, num_classes, canvas)
    canvas = canvas or (model.transform.min_size[0], model.transform.max_size)
    calibrate_batchnorm(model, tuple(canvas), seed)
    return spread_heads(model, seed + 1, logit_scale)
