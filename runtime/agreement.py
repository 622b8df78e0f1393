"""Detection agreement: how many of a reference backend's detections another backend also reports.

The measure behind the accuracy gate of reduced precision (``edgedet quantize``), the CPU-paths
bench and ``profile``'s fp32 comparison: the share of the reference's detections scoring at least
``min_score`` (default: the confident ones, >= 0.5) that the candidate reports with the same label
at IoU >= 0.5, at any score. The low-score tail is left out by default on purpose: detections near
the score threshold come and go under any perturbation and say nothing about what a user sees.
Torch-free (numpy only), so the edge install's ``profile`` uses it too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgedet.runtime.detector import Detector

CONFIDENT = 0.5
SAME_BOX_PX = 1e-3  # two boxes with no area whose corners agree this closely are one box


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of [N,4] and [M,4] x1,y1,x2,y2 boxes. Where both have no area (a detection in the
    letterbox's padding, cut to the frame, has zero height) IoU is 0/0: 1 when their corners agree within
    ``SAME_BOX_PX`` (two backends' float noise), else 0."""
    a = a.astype(np.float64)[:, None]
    b = b.astype(np.float64)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    same = (np.abs(a - b).max(-1) <= SAME_BOX_PX).astype(float)
    return np.where(union > 0, inter / np.where(union > 0, union, 1), same)


def agreement(candidate: Detector, reference: Detector, frames: Sequence[np.ndarray],
              min_score: float = CONFIDENT) -> tuple[float, int]:
    """(share of the reference's confident detections the candidate also reports, their number)."""
    found = total = 0
    for frame in frames:
        ref, cand = reference([frame])[0], candidate([frame])[0]
        keep = ref.scores >= min_score
        rb, rl = ref.boxes[keep], ref.labels[keep]
        total += len(rb)
        if not len(rb) or not len(cand.boxes):
            continue
        ious = np.where(rl[:, None] == cand.labels[None, :], box_iou(rb, cand.boxes), 0.0)
        found += int((ious.max(axis=1) >= 0.5).sum())
    return (found / total if total else 1.0), total
