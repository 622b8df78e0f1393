"""What every tracker shares: the ``update(detections) -> detections`` contract, per-class or class-agnostic
matching, the output of the detections that belong to confirmed tracks, and the tracks' life statistics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from edgedet.runtime.detections import Detections
from edgedet.runtime.tracking import kalman
from edgedet.runtime.tracking.association import assign, iou_matrix, same_class
from edgedet.runtime.tracking.track_table import TrackTable


@dataclass
class TrackLives:
    """How many tracks were confirmed and ended, and how long the ended ones lasted (frames)."""

    started: int = 0
    lengths: list[int] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return len(self.lengths)


class Tracker(ABC):
    """A multi-object tracker. ``update`` takes one frame's detections and returns those that belong to
    confirmed tracks, each with its track's ``tracker_id`` (in the input's order); ``reset`` starts over.

    Tracks match detections of their own class only, unless ``class_agnostic``; a track's label is the
    majority label of its detections. A track is confirmed once matched ``min_hits`` frames in a row (or in
    the run's first ``min_hits`` frames) and stays confirmed until it ends (is not matched for ``max_age``
    frames): its id is never withheld again once shown."""

    name = ""
    # the lowest detection score the tracker uses, when it wants boxes under the run's confidence threshold
    # (ByteTrack's second pass); None: the run's threshold
    min_score: float | None = None
    early = None  # the run's first frames in which a new track is confirmed at once (None: min_hits)

    def __init__(self, table: TrackTable, class_agnostic: bool = False, min_hits: int = 3, max_age: int = 30):
        if min_hits < 1 or max_age < 1:
            raise ValueError(f"min_hits and max_age must be at least 1, got {min_hits} and {max_age}")
        self.tracks, self.class_agnostic, self.min_hits, self.max_age = table, class_agnostic, min_hits, max_age
        self.frame = 0
        self.lives = TrackLives()
        self._shown: Detections | None = None  # the last detected frame's output

    def reset(self) -> None:
        self.tracks.clear()
        self.frame = 0
        self.lives = TrackLives()
        self._shown = None

    def coast(self) -> Detections:
        """A frame the detector skipped (``--detect-every``): every track's motion model steps one frame on,
        and the tracks shown on the last detected frame are output at their predicted boxes, ``predicted``
        set, with their last scores. Nothing else changes: a track is neither missed nor matched, so
        confirmation and ending count detected frames only."""
        t = self.tracks
        if len(t):
            t.mean, t.cov = kalman.predict(t.model, t.mean, t.cov)
        last = self._shown
        if last is None or not len(last):
            return Detections.empty(last.class_names if last else ()).with_tracker_ids(np.zeros(0, np.int64))
        row_of = {int(tid): row for row, tid in enumerate(t.ids.tolist())}
        rows = np.array([row_of[tid] for tid in last.tracker_id.tolist()], np.int64)  # in the last output's order
        return Detections(t.boxes()[rows], last.scores, t.labels[rows], last.class_names, None, last.pose,
                          t.ids[rows], np.ones(len(rows), bool))

    def score_floor(self, conf: float) -> float:
        """The score a detection needs to reach this tracker, in a run whose threshold is ``conf``."""
        return conf if self.min_score is None else min(conf, self.min_score)

    @abstractmethod
    def update(self, detections: Detections) -> Detections:
        """One frame's detections in; those of confirmed tracks out, with ``tracker_id``."""

    # shared steps

    def _similarity(self, det_boxes: np.ndarray, det_labels: np.ndarray, rows: np.ndarray,
                    boxes: np.ndarray | None = None) -> np.ndarray:
        """IoU of detections with the tracks ``rows`` (their predicted boxes, or ``boxes``), zero across
        classes for a per-class tracker."""
        track_boxes = self.tracks.boxes()[rows] if boxes is None else boxes
        iou = iou_matrix(det_boxes, track_boxes)
        if not self.class_agnostic and iou.size:
            iou = np.where(same_class(det_labels, self.tracks.labels[rows]), iou, 0.0)
        return iou

    def _match(self, score: np.ndarray, minimum: float, dets: np.ndarray, rows: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``assign`` over detection indices ``dets`` and track rows ``rows``: (pairs of detection index and
        track row, unmatched detection indices, unmatched rows)."""
        pairs, free_d, free_r = assign(score, minimum)
        return np.stack([dets[pairs[:, 0]], rows[pairs[:, 1]]], axis=1), dets[free_d], rows[free_r]

    def _confirm(self) -> None:
        early = self.min_hits if self.early is None else self.early
        ready = ~self.tracks.confirmed & ((self.tracks.streak >= self.min_hits) | (self.frame <= early))
        ready &= self.tracks.missed == 0
        self.lives.started += int(ready.sum())
        self.tracks.confirmed |= ready

    def _prune(self, ended: np.ndarray) -> None:
        """End the tracks where ``ended``; a confirmed one's length goes into the statistics."""
        t = self.tracks
        if not ended.any():
            return
        for age, missed, confirmed in zip(t.age[ended], t.missed[ended], t.confirmed[ended]):
            if confirmed:
                self.lives.lengths.append(int(age - missed + 1))
        t.keep(~ended)

    def _output(self, detections: Detections, pairs: np.ndarray) -> Detections:
        """The detections matched to confirmed tracks this frame, in input order, with the tracks' ids."""
        if not len(pairs):
            out = detections[np.zeros(0, np.int64)].with_tracker_ids(np.zeros(0, np.int64))
        else:
            pairs = pairs[self.tracks.confirmed[pairs[:, 1]]]
            pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
            out = detections[pairs[:, 0]].with_tracker_ids(self.tracks.ids[pairs[:, 1]])
        self._shown = out
        return out

    def finish(self) -> TrackLives:
        """End every live track (the stream ended) and return the statistics."""
        self._prune(np.ones(len(self.tracks), bool))
        return self.lives


def boxes_of(detections: Detections) -> np.ndarray:
    return np.asarray(detections.boxes, np.float64)
