"""Matching detections to tracks: IoU between two sets of boxes, and the optimal one-to-one assignment
(scipy's ``linear_sum_assignment``, the Hungarian method's modern solver) with the pairs below a
threshold refused, as every tracker of the SORT family does."""

from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``[len(a), len(b)]`` of x1, y1, x2, y2 boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(x2 - x1, 0.0) * np.maximum(y2 - y1, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-12)  # no union, no intersection: 0


def assign(score: np.ndarray, minimum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The assignment of rows to columns that maximises the total ``score``, keeping the pairs that reach
    ``minimum``: (matched pairs ``[K, 2]``, unmatched rows, unmatched columns)."""
    rows, cols = score.shape
    if not rows or not cols:
        return np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols)
    # imported here: scipy.optimize costs ~0.5 s to import, which every `edgedet run` paid at start-up
    # (the engine imports the trackers) though only a run with --track ever assigns
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(score, maximize=True)
    keep = score[r, c] >= minimum
    pairs = np.stack([r[keep], c[keep]], axis=1).astype(np.int64)
    free_rows, free_cols = np.ones(rows, bool), np.ones(cols, bool)
    free_rows[pairs[:, 0]] = False
    free_cols[pairs[:, 1]] = False
    return pairs, np.flatnonzero(free_rows), np.flatnonzero(free_cols)


def same_class(labels_a: np.ndarray, labels_b: np.ndarray) -> np.ndarray:
    """``[len(a), len(b)]`` True where the labels agree: a per-class tracker matches only these."""
    return np.asarray(labels_a)[:, None] == np.asarray(labels_b)[None, :]
