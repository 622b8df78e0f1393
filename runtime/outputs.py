"""From the deployed model's padded outputs to per-frame ``Detections`` in frame pixels (every backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgedet.runtime.detections import Detections, Pose
from edgedet.runtime.letterbox import unletterbox_boxes, unletterbox_points

OUTPUT_NAMES = ("num_detections", "boxes", "scores", "labels")
KEYPOINTS_OUTPUT = "keypoints"  # Keypoint R-CNN files add [B, K, J, 3]: x, y in canvas pixels, the joint's score


def detections_from_outputs(outputs: Mapping[str, np.ndarray], scales: Sequence[float],
                            frames_hw: Sequence[tuple[int, int]], class_names: Sequence[str],
                            pose: Pose | None = None) -> list[Detections]:
    """Cut each image's rows at ``num_detections`` and map boxes (and keypoints, when the file has
    them) from canvas to frame pixels."""
    counts = np.asarray(outputs["num_detections"]).reshape(len(scales), -1)[:, 0]
    keypoints = outputs.get(KEYPOINTS_OUTPUT)
    results = []
    for i, (scale, hw) in enumerate(zip(scales, frames_hw)):
        n = int(counts[i])
        boxes = unletterbox_boxes(outputs["boxes"][i, :n], scale, hw)
        joints = None if keypoints is None else unletterbox_points(keypoints[i, :n], scale, hw)
        results.append(Detections(boxes, outputs["scores"][i, :n], outputs["labels"][i, :n], class_names, joints,
                                  pose if joints is not None else None))
    return results
