"""ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection Box", ECCV
2022). Detections are split by score: the high ones (``track_thresh`` and above) are matched first, to
every track (tracked or lost) by IoU weighted by the detection's score; then the low ones (from
``low_thresh``) to the tracks still unmatched that were tracked in the previous frame, by IoU alone — an
occluded object's weak box keeps its track alive instead of being thrown away. New tracks start from high
detections of at least ``new_track_thresh`` and are confirmed when matched again the next frame (at once
in the first frame); a lost track is kept ``track_buffer`` frames. Kalman state: centre, aspect ratio and
height, with noise proportional to the height (as DeepSORT)."""

from __future__ import annotations

import numpy as np

from edgedet.runtime.detections import Detections
from edgedet.runtime.tracking.base import Tracker, boxes_of
from edgedet.runtime.tracking.kalman import AspectHeightModel
from edgedet.runtime.tracking.track_table import TrackTable


class ByteTrack(Tracker):
    name = "bytetrack"
    early = 1  # the first frame's tracks are confirmed at once

    def __init__(self, track_thresh: float = 0.5, low_thresh: float = 0.1, new_track_thresh: float | None = None,
                 match_thresh: float = 0.2, low_match_thresh: float = 0.5, new_match_thresh: float = 0.3,
                 track_buffer: int = 30, class_agnostic: bool = False) -> None:
        if not 0 <= low_thresh <= track_thresh:
            raise ValueError(f"low_thresh must be in [0, track_thresh], got {low_thresh} and {track_thresh}")
        super().__init__(TrackTable(AspectHeightModel()), class_agnostic, min_hits=2, max_age=track_buffer)
        self.track_thresh, self.low_thresh = track_thresh, low_thresh
        self.new_track_thresh = track_thresh + 0.1 if new_track_thresh is None else new_track_thresh
        self.match_thresh, self.low_match_thresh, self.new_match_thresh = (match_thresh, low_match_thresh,
                                                                           new_match_thresh)
        self.min_score = low_thresh

    def update(self, detections: Detections) -> Detections:
        self.frame += 1
        t = self.tracks
        tracked_before = t.missed == 0  # matched in the previous frame
        t.predict()
        boxes, labels, scores = boxes_of(detections), detections.labels, detections.scores.astype(np.float64)
        high = np.flatnonzero(scores >= self.track_thresh)
        low = np.flatnonzero((scores >= self.low_thresh) & (scores < self.track_thresh))
        pool = np.flatnonzero(t.confirmed)
        # 1. high detections with every confirmed track, tracked or lost: IoU times the detection's score
        score = self._similarity(boxes[high], labels[high], pool) * scores[high, None]
        first, free_high, free_pool = self._match(score, self.match_thresh, high, pool)
        # 2. low detections with the tracks left that were tracked a frame ago: IoU alone
        recent = free_pool[tracked_before[free_pool]]
        second, _, _ = self._match(self._similarity(boxes[low], labels[low], recent), self.low_match_thresh, low,
                                   recent)
        # 3. the unconfirmed tracks (started last frame) with the high detections left
        fresh = np.flatnonzero(~t.confirmed)
        score = self._similarity(boxes[free_high], labels[free_high], fresh) * scores[free_high, None]
        third, free_high, stale = self._match(score, self.new_match_thresh, free_high, fresh)
        pairs = np.concatenate([first, second, third])
        t.update(pairs[:, 1], boxes[pairs[:, 0]], labels[pairs[:, 0]])
        starters = free_high[scores[free_high] >= self.new_track_thresh]
        new_rows = t.add(boxes[starters], labels[starters])
        pairs = np.concatenate([pairs, np.stack([starters, new_rows], axis=1)])
        self._confirm()
        out = self._output(detections, pairs)
        ended = t.missed > self.max_age
        ended[stale] = True  # an unconfirmed track not matched again is dropped
        self._prune(ended)
        return out
