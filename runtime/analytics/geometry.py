"""The plane geometry of line and zone analytics: which side of a line a point is on, whether a step
crosses a segment, how deep a point is inside a polygon. Frame pixels, y pointing down."""

from __future__ import annotations

import cv2
import numpy as np


def anchor_points(boxes: np.ndarray) -> np.ndarray:
    """Each box's reference point ``[N, 2]``: the bottom centre, where an object meets the ground (the point
    a trail is drawn through, and the one DeepStream and supervision count with by default)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def signed_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed distance ``[N]`` of points from the infinite line through ``a`` and ``b``: positive on the
    right-hand side of a walk from ``a`` to ``b`` (on screen, with y down), negative on the left."""
    d = b - a
    cross = d[0] * (points[:, 1] - a[1]) - d[1] * (points[:, 0] - a[0])
    return cross / max(float(np.hypot(*d)), 1e-12)


def segments_cross(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the step from ``p`` to ``q`` meets the segment ``a``-``b`` (endpoints included): the step's
    ends are on opposite sides of (or on) the segment's line, and the segment's ends on opposite sides of
    (or on) the step's line."""
    def side(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> float:
        return float((v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0]))

    return side(a, b, p) * side(a, b, q) <= 0 and side(p, q, a) * side(p, q, b) <= 0


def inside_depth(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Signed distance ``[N]`` of points to the polygon's boundary: positive inside, negative outside
    (OpenCV's ``pointPolygonTest``)."""
    contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in points], np.float64)
