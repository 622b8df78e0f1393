"""Proposal recall: the share of ground-truth boxes that some proposal among the first N overlaps at
IoU >= t. The figure that decides whether a detector can find an object at all."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgedet.runtime.agreement import box_iou


def proposal_recall(proposals: Sequence[np.ndarray], gt: Sequence[np.ndarray], counts: Sequence[int] = (100, 500, 2000),
                    ious: Sequence[float] = (0.5, 0.7)) -> dict[str, float]:
    """``{"recall@100_iou0.5": ..., ...}`` over every image's ground truth, plus the mean number of
    proposals per image (``proposals_per_image``): a source may give fewer than N."""
    total = sum(len(g) for g in gt)
    out: dict[str, float] = {"proposals_per_image": float(np.mean([len(p) for p in proposals])) if proposals else 0.0}
    for n in counts:
        best = [box_iou(g, p[:n]).max(1) if len(g) and len(p) else np.zeros(len(g)) for p, g in zip(proposals, gt)]
        flat = np.concatenate(best) if best else np.zeros(0)
        for t in ious:
            out[f"recall@{n}_iou{t}"] = float((flat >= t).sum() / max(1, total))
    return out


def recall_with_counts(proposals: Sequence[np.ndarray], gt: Sequence[np.ndarray], counts: Sequence[int],
                       ious: Sequence[float] = (0.5, 0.7)) -> dict[str, float]:
    """Recall when image i keeps its first ``counts[i]`` proposals: one source held to another's
    per-image count (the RPN at exactly as many proposals as selective search found there)."""
    total = sum(len(g) for g in gt)
    best = [box_iou(g, p[:n]).max(1) if len(g) and len(p[:n]) else np.zeros(len(g))
            for p, g, n in zip(proposals, gt, counts)]
    flat = np.concatenate(best) if best else np.zeros(0)
    return {f"recall_iou{t}": float((flat >= t).sum() / max(1, total)) for t in ious}
