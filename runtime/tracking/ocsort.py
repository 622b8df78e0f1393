"""OC-SORT (Cao et al., "Observation-Centric SORT: Rethinking SORT for Robust Multi-Object Tracking", CVPR
2023): SORT's filter and matching, made robust to occlusion and non-linear motion by trusting observations
over the filter's extrapolation:

- **OCM** (observation-centric momentum): the matching cost adds, to IoU, how well the direction from a
  track's observation ``delta_t`` frames back to the detection agrees with the track's observed direction of
  motion (weight ``inertia``, scaled by the detection's score).
- **OCR** (observation-centric recovery): detections and tracks left unmatched are matched once more by IoU
  with the tracks' *last observed* boxes, which recovers a track that stopped or was briefly occluded.
- **ORU** (observation-centric re-update): a track matched again after missing frames has its filter rolled
  back to its last observation and re-run over the gap on boxes interpolated between the two observations,
  so the error the filter built up while coasting is not carried forward.

Only detections scoring ``det_thresh`` or more are used (no second, low-score pass); 0.6 by default, the
official implementation's (its ``--track_thresh``): on the synthetic sequences 0.3 let weak boxes start
tracks that stole ids (62 id switches against 16)."""

from __future__ import annotations

import numpy as np

from edgedet.runtime.detections import Detections
from edgedet.runtime.tracking import kalman
from edgedet.runtime.tracking.base import Tracker, boxes_of
from edgedet.runtime.tracking.kalman import ScaleAreaModel
from edgedet.runtime.tracking.track_table import TrackTable


def _centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def _directions(frm: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Unit vectors from the centres of ``frm`` to those of ``to`` (broadcast), zero where they coincide."""
    d = to - frm
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    return np.where(norm > 1e-6, d / np.maximum(norm, 1e-6), 0.0)


class OcSort(Tracker):
    name = "ocsort"

    def __init__(self, det_thresh: float = 0.6, iou_threshold: float = 0.3, min_hits: int = 3, max_age: int = 30,
                 delta_t: int = 3, inertia: float = 0.2, class_agnostic: bool = False) -> None:
        super().__init__(TrackTable(ScaleAreaModel()), class_agnostic, min_hits, max_age)
        if delta_t < 1:
            raise ValueError(f"delta_t must be at least 1, got {delta_t}")
        self.det_thresh, self.iou_threshold, self.delta_t, self.inertia = det_thresh, iou_threshold, delta_t, inertia
        # each track's own columns: its last delta_t + 1 observations in a ring by age (-1: none), its
        # observed direction of motion, and the filter's state at its last observation (for ORU)
        self.ring = delta_t + 1

    def _previous_observations(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each track's observation ``delta_t`` frames before its current age, or the nearest later one
        before it: (boxes ``[R, 4]``, whether there is one ``[R]``)."""
        t = self.tracks
        if not len(rows):
            return np.zeros((0, 4)), np.zeros(0, bool)
        obs, obs_age = t.extra["obs"][rows], t.extra["obs_age"][rows]
        backs = np.arange(self.delta_t, 0, -1)
        hit = obs_age[:, None, :] == (t.age[rows, None] - backs[None, :])[:, :, None]  # [R, delta_t, ring]
        found = hit.any(axis=2)
        has = found.any(axis=1)
        back = found.argmax(axis=1)
        slot = hit[np.arange(len(rows)), back].argmax(axis=1)
        return obs[np.arange(len(rows)), slot], has

    def update(self, detections: Detections) -> Detections:
        self.frame += 1
        t = self.tracks
        t.predict()
        keep = np.flatnonzero(detections.scores >= self.det_thresh)
        boxes, labels, scores = boxes_of(detections), detections.labels, detections.scores.astype(np.float64)
        rows = np.arange(len(t))
        earlier = self._previous_observations(rows)  # every track's, for OCM now and the matched ones' update
        # 1. IoU with the predicted boxes plus the momentum term; pairs under the IoU threshold refused
        iou = self._similarity(boxes[keep], labels[keep], rows)
        score = iou + self._momentum(boxes[keep], scores[keep], rows, iou, earlier) if iou.size else iou
        pairs, free_d, free_r = self._match(score, -np.inf, keep, rows)
        ok = iou[np.searchsorted(keep, pairs[:, 0]), pairs[:, 1]] >= self.iou_threshold
        free_d = np.sort(np.concatenate([free_d, pairs[~ok, 0]]))
        free_r = np.sort(np.concatenate([free_r, pairs[~ok, 1]]))
        pairs = pairs[ok]
        # 2. OCR: what is left, by IoU with the tracks' last observed boxes
        recovered, free_d, _ = self._match(
            self._similarity(boxes[free_d], labels[free_d], free_r, boxes=t.last_box[free_r]),
            self.iou_threshold, free_d, free_r)
        pairs = np.concatenate([pairs, recovered])
        self._observe(pairs, boxes, labels, earlier)
        n = len(free_d)
        obs = np.zeros((n, self.ring, 4))
        obs[:, 0] = boxes[free_d]
        obs_age = np.full((n, self.ring), -1, np.int64)
        obs_age[:, 0] = 0
        new_rows = t.add(boxes[free_d], labels[free_d], obs=obs, obs_age=obs_age, velocity=np.zeros((n, 2)),
                         at_mean=np.zeros((n, t.model.dim_x)), at_cov=np.zeros((n, t.model.dim_x, t.model.dim_x)))
        if n:  # (no new track: the columns may not exist yet, before the first one)
            t.extra["at_mean"][new_rows], t.extra["at_cov"][new_rows] = t.mean[new_rows], t.cov[new_rows]
        pairs = np.concatenate([pairs, np.stack([free_d, new_rows], axis=1)])
        self._confirm()
        out = self._output(detections, pairs)
        self._prune(t.missed > self.max_age)
        return out

    def _momentum(self, det_boxes: np.ndarray, det_scores: np.ndarray, rows: np.ndarray, iou: np.ndarray,
                  earlier: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """OCM: ``inertia`` × score × (π/2 − |angle between the track's direction and the direction from its
        earlier observation to the detection|) / π, for the pairs that overlap (the others cannot be
        matched); zero for a track without an earlier observation."""
        out = np.zeros((len(det_boxes), len(rows)))
        d, r = np.nonzero(iou > 0)
        if self.inertia == 0 or not len(d):
            return out
        previous, has = earlier[0][rows], earlier[1][rows]
        toward = _directions(_centres(previous[r]), _centres(det_boxes[d]))
        cos = np.clip(np.einsum("pk,pk->p", toward, self.tracks.extra["velocity"][rows[r]]), -1.0, 1.0)
        agreement = (np.pi / 2 - np.abs(np.arccos(cos))) / np.pi
        out[d, r] = self.inertia * agreement * has[r] * det_scores[d]
        return out

    def _observe(self, pairs: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
                 earlier: tuple[np.ndarray, np.ndarray]) -> None:
        """Update the matched tracks (after ORU for those that missed frames), their direction of motion (from
        ``earlier``, every track's earlier observation) and their observations."""
        t = self.tracks
        if not len(pairs):
            return
        dets, rows = pairs[:, 0], pairs[:, 1]
        gapped = pairs[t.missed[rows] > 1]
        if len(gapped):
            self._replay_gaps(gapped[:, 1], boxes[gapped[:, 0]])
        previous, has = earlier[0][rows], earlier[1][rows]
        t.update(rows, boxes[dets], labels[dets])
        velocity = t.extra["velocity"]
        velocity[rows[has]] = _directions(_centres(previous[has]), _centres(boxes[dets[has]]))
        slot = t.age[rows] % self.ring
        t.extra["obs"][rows, slot] = boxes[dets]
        t.extra["obs_age"][rows, slot] = t.age[rows]
        t.extra["at_mean"][rows], t.extra["at_cov"][rows] = t.mean[rows], t.cov[rows]

    def _replay_gaps(self, rows: np.ndarray, new_boxes: np.ndarray) -> None:
        """ORU for tracks matched again after a gap (``missed`` frames each): from the state at the last
        observation, predict over the gap, updating on boxes interpolated linearly between that observation
        and the new one; the new box then updates the result (as every matched track's does). All rows step
        together, each for its own gap's length: sorted longest gap first, the rows still stepping are a
        leading slice (views, not copies)."""
        t = self.tracks
        order = np.argsort(-t.missed[rows], kind="stable")
        rows, new_boxes = rows[order], new_boxes[order]
        gaps = t.missed[rows]
        mean, cov = t.extra["at_mean"][rows], t.extra["at_cov"][rows]  # fancy indexing: copies
        last = t.last_box[rows]
        # how many rows have a gap of at least s, for s = 1 .. the longest
        longest = int(gaps[0])
        stepping = np.searchsorted(-gaps, -np.arange(1, longest + 2), side="right")
        for step in range(1, longest + 1):
            live = stepping[step - 1]
            mean[:live], cov[:live] = kalman.predict(t.model, mean[:live], cov[:live])
            inside = stepping[step]  # the interpolated boxes: every step but a row's last
            if inside:
                virtual = last[:inside] + (new_boxes[:inside] - last[:inside]) * (step / gaps[:inside])[:, None]
                mean[:inside], cov[:inside] = kalman.update(t.model, mean[:inside], cov[:inside], virtual)
        t.mean[rows], t.cov[rows] = mean, cov
