"""One container for detections, shared by every backend, evaluator and sink."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True)
class Pose:
    """What a pose model's joints are: their names and the skeleton's edges (0-based joint pairs),
    from the model file's metadata; drawing and JSON output use it."""

    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, names: Sequence[str], skeleton: Iterable[Sequence[int]] = ()) -> Pose | None:
        """A pose for a model with joints, None for a detector without (empty ``names``)."""
        return cls(tuple(str(n) for n in names), tuple((int(a), int(b)) for a, b in skeleton)) if names else None


@dataclass
class Detections:
    """Detections of one frame, in that frame's pixel coordinates.

    ``labels`` are torchvision label ids (0 is background and never appears);
    ``class_names[label]`` names them when the model carries names. A pose model's detections
    also carry ``keypoints`` ``[N, J, 3]`` (x, y in frame pixels, the joint's score: a heatmap
    logit, as in torchvision) and the ``pose`` that names the joints. A tracker's output carries
    ``tracker_id`` ``[N]``: the id of the track each detection belongs to (None before tracking), and
    ``predicted`` ``[N]`` bool where a box is the track's motion model's, not a detection (``--detect-every``:
    the frames the detector skips; None: every box was detected).
    """

    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2
    scores: np.ndarray  # float32 [N]
    labels: np.ndarray  # int64 [N]
    class_names: Sequence[str] = field(default_factory=tuple)
    keypoints: np.ndarray | None = None  # float32 [N, J, 3]
    pose: Pose | None = None
    tracker_id: np.ndarray | None = None  # int64 [N]
    predicted: np.ndarray | None = None  # bool [N]

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not (len(self.boxes) == len(self.scores) == len(self.labels)):
            raise ValueError(
                f"boxes, scores and labels differ in length: {len(self.boxes)}, "
                f"{len(self.scores)}, {len(self.labels)}"
            )
        if self.keypoints is not None:
            joints = len(self.pose.names) if self.pose else np.asarray(self.keypoints).shape[-2]
            self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, joints, 3)
            if len(self.keypoints) != len(self.scores):
                raise ValueError(f"{len(self.keypoints)} keypoint rows for {len(self.scores)} detections")
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
            if len(self.tracker_id) != len(self.scores):
                raise ValueError(f"{len(self.tracker_id)} tracker ids for {len(self.scores)} detections")
        if self.predicted is not None:
            self.predicted = np.asarray(self.predicted, dtype=bool).reshape(-1)
            if len(self.predicted) != len(self.scores):
                raise ValueError(f"{len(self.predicted)} predicted flags for {len(self.scores)} detections")

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                   class_names)

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        keypoints = None if self.keypoints is None else self.keypoints[index]
        ids = None if self.tracker_id is None else self.tracker_id[index]
        predicted = None if self.predicted is None else self.predicted[index]
        return Detections(self.boxes[index], self.scores[index], self.labels[index], self.class_names, keypoints,
                          self.pose, ids, predicted)

    def with_tracker_ids(self, tracker_id: np.ndarray) -> Detections:
        """These detections with the ids of their tracks (a tracker's output)."""
        return Detections(self.boxes, self.scores, self.labels, self.class_names, self.keypoints, self.pose,
                          tracker_id, self.predicted)

    def filter(self, conf: float = 0.0, classes: Iterable[int | str] | None = None) -> Detections:
        """Keep detections scoring at least ``conf`` whose label id or name is in ``classes``."""
        keep = self.scores >= conf
        if classes is not None:
            wanted = set(classes)
            keep &= np.array([int(lb) in wanted or self.name(int(lb)) in wanted for lb in self.labels],
                             dtype=bool).reshape(-1)
        return self[keep]

    def suppress_overlaps(self, iou: float) -> Detections:
        """Class-agnostic non-maximum suppression (OpenCV's): of detections overlapping by more than ``iou``,
        whatever their labels, the highest-scoring one is kept, in input order. A detector's own NMS is per
        class, so one object can come out twice with two labels; a tracker would follow it twice."""
        if len(self) < 2:
            return self
        xywh = np.concatenate([self.boxes[:, :2], self.boxes[:, 2:] - self.boxes[:, :2]], axis=1)
        keep = cv2.dnn.NMSBoxes(xywh.astype(np.float64).tolist(), self.scores.astype(np.float64).tolist(),
                                0.0, float(iou))
        return self[np.sort(np.asarray(keep, np.int64).reshape(-1))]

    def name(self, label: int) -> str:
        if 0 <= label < len(self.class_names):
            return self.class_names[label]
        return str(label)

    def to_records(self) -> list[dict]:
        """Plain-JSON rows, for JSON Lines sinks and ``--json`` output."""
        rows = [
            {
                "box": [round(float(v), 2) for v in box],
                "score": round(float(score), 5),
                "label": int(label),
                "name": self.name(int(label)),
            }
            for box, score, label in zip(self.boxes, self.scores, self.labels)
        ]
        if self.tracker_id is not None:
            for row, track in zip(rows, self.tracker_id):
                row["tracker_id"] = int(track)
        if self.predicted is not None:
            for row, guess in zip(rows, self.predicted):
                if guess:
                    row["predicted"] = True
        if self.keypoints is not None:  # [[x, y, score], ...] per joint, in the order of pose.names
            for row, joints in zip(rows, self.keypoints):
                row["keypoints"] = [[round(float(x), 2), round(float(y), 2), round(float(s), 4)] for x, y, s in joints]
        return rows
