"""Drawing detections on frames, for predict output, video sinks and previews."""

from __future__ import annotations

import cv2
import numpy as np

from edgedet.runtime.detections import Detections
from edgedet.runtime.trails import Trails

KEYPOINT_MIN_SCORE = 0.0  # joints scoring below this (a heatmap logit, as torchvision's) are not drawn


def color_for(label: int) -> tuple[int, int, int]:
    """A stable, distinct RGB colour per label id (golden-ratio hue steps)."""
    hue = int((label * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 200, 255]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def annotate(frame: np.ndarray, detections: Detections, thickness: int | None = None,
             trails: Trails | None = None) -> np.ndarray:
    """Return a copy of the RGB ``frame`` with boxes and ``name score`` captions drawn; tracked detections
    are captioned ``#id name score``, coloured by track, with the track's recent path (``trails``); a box
    the tracker predicted (a frame the detector skipped) is thinner and captioned with a trailing ``~``."""
    out = np.ascontiguousarray(frame.copy())
    t = thickness or max(1, round(min(out.shape[:2]) / 300))
    font_scale = max(0.35, min(out.shape[:2]) / 900)
    if detections.keypoints is not None:
        draw_skeletons(out, detections, t)
    ids = detections.tracker_id if detections.tracker_id is not None else [None] * len(detections)
    guessed = detections.predicted if detections.predicted is not None else np.zeros(len(detections), bool)
    for box, score, label, tid, guess in zip(detections.boxes, detections.scores, detections.labels, ids, guessed):
        color = color_for(int(label) if tid is None else int(tid))
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, max(1, t - 1) if guess else t, cv2.LINE_AA)
        caption = f"{detections.name(int(label))} {score:.2f}" + (" ~" if guess else "")  # ~: a predicted box
        if tid is not None:
            caption = f"#{int(tid)} {caption}"
            path = trails.of(int(tid)) if trails is not None else None
            if path is not None and len(path) > 1:
                cv2.polylines(out, [path], False, color, t, cv2.LINE_AA)
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = max(y1, th + base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw, ty), color, -1)
        cv2.putText(out, caption, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def draw_skeletons(out: np.ndarray, detections: Detections, thickness: int) -> None:
    """Each detection's limbs (the pose's skeleton edges between joints scoring at least
    ``KEYPOINT_MIN_SCORE``) and joints, in place; a limb takes the colour of its first joint."""
    edges = detections.pose.skeleton if detections.pose else ()
    radius = thickness + 1
    for joints in detections.keypoints:
        shown = joints[:, 2] >= KEYPOINT_MIN_SCORE
        points = [(int(round(x)), int(round(y))) for x, y, _ in joints]
        for a, b in edges:
            if a < len(points) and b < len(points) and shown[a] and shown[b]:
                cv2.line(out, points[a], points[b], color_for(a + 1), thickness + 1, cv2.LINE_AA)
        for j, point in enumerate(points):
            if shown[j]:
                cv2.circle(out, point, radius, color_for(j + 1), -1, cv2.LINE_AA)
                cv2.circle(out, point, radius, (255, 255, 255), 1, cv2.LINE_AA)
