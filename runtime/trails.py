"""The recent path of each track (the bottom centres of its last boxes), kept per stream so the drawing of
a tracked video shows where each object came from."""

from __future__ import annotations

from collections import deque

import numpy as np

from edgedet.runtime.detections import Detections

LENGTH = 20  # points kept per track; a track unseen this many frames is forgotten


class Trails:
    def __init__(self, length: int = LENGTH) -> None:
        self.length = length
        self._points: dict[int, deque[tuple[int, int]]] = {}
        self._seen: dict[int, int] = {}
        self._frame = 0

    def add(self, detections: Detections) -> None:
        """One frame's tracked detections (without ``tracker_id``, nothing to follow)."""
        self._frame += 1
        if detections.tracker_id is None:
            return
        for box, tid in zip(detections.boxes, detections.tracker_id.tolist()):
            points = self._points.setdefault(tid, deque(maxlen=self.length))
            points.append((int(round((box[0] + box[2]) / 2)), int(round(box[3]))))
            self._seen[tid] = self._frame
        for tid in [t for t, last in self._seen.items() if self._frame - last > self.length]:
            del self._points[tid], self._seen[tid]

    def of(self, tracker_id: int) -> np.ndarray:
        """The track's points ``[K, 2]`` int32, oldest first (empty when unknown)."""
        return np.array(self._points.get(tracker_id, ()), np.int32).reshape(-1, 2)
