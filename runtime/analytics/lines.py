"""Counting the tracks that cross a line, per class and direction (DeepStream's line crossing, supervision's
``LineZone``).

A track's side of the line is decided only when its reference point is more than ``margin`` pixels from the
line, so a box that jitters on the line is not counted again and again. A crossing is a change of decided
side whose step (from the point where the old side was last decided to the new point) meets the segment
itself, not just its line: an object passing beyond the segment's ends is not counted. It is told once the
track has stayed ``confirm`` decided frames on the new side (see ``LineCounter``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from edgedet.runtime.analytics.events import LineCrossed
from edgedet.runtime.analytics.geometry import segments_cross, signed_distance
from edgedet.runtime.analytics.specs import LineSpec

FORGET_AFTER = 600  # frames: a track unseen this long is forgotten (bounded memory on an endless camera)
MARGIN_PX = 2.0  # how far from a line or a zone's edge a reference point must be to decide its side
# decided frames on the new side before a crossing, entry or exit counts: on the synthetic tracking
# sequences with the demo model, 3 frames cut the count errors by a third against 1 (docs/tracking.md)
CONFIRM_FRAMES = 3


@dataclass(frozen=True)
class LineTotals:
    """A line's crossings over the run: ``counts[direction][label]``."""

    line: str
    crossed_in: int
    crossed_out: int
    counts: dict[str, dict[str, int]]


@dataclass
class _Side:
    """A track's place against a line: its decided side, its last point there, the frame it was last seen,
    and the other side it is being seen on, for how many decided frames (not yet a crossing)."""

    side: int
    point: np.ndarray
    seen: int
    pending: int = 0
    streak: int = 0


class LineCounter:
    """``confirm``: how many decided frames in a row a track must be seen on the new side before its
    crossing counts. A detector's box of a half-hidden object is the visible part's, so its bottom centre
    can jump back over the line for a frame or two as an occluder passes: counting at once would count
    that flicker as crossings back and forth (supervision's ``minimum_crossing_threshold`` is the same
    idea). The event is told on the frame it is confirmed."""

    def __init__(self, spec: LineSpec, margin: float = MARGIN_PX, confirm: int = CONFIRM_FRAMES) -> None:
        if confirm < 1:
            raise ValueError(f"confirm must be at least 1 frame, got {confirm}")
        self.spec, self.margin, self.confirm = spec, margin, confirm
        self._side: dict[int, _Side] = {}
        self._counts: Counter[tuple[str, str]] = Counter()

    def update(self, frame: int, time: float, ids: list[int], labels: list[str],
               points: np.ndarray) -> list[LineCrossed]:
        events = []
        a, b = self.spec.a, self.spec.b
        for tid, label, point, dist in zip(ids, labels, points, signed_distance(points, a, b)):
            known = self._side.get(tid)
            side = 1 if dist > self.margin else -1 if dist < -self.margin else 0
            if known is None:
                if side:
                    self._side[tid] = _Side(side, point, frame)
                continue
            known.seen = frame  # on the line too: the track is alive, nothing is decided
            if side == 0:
                continue
            if side == known.side:  # back (or still) on its side: a flicker across is forgotten
                known.point, known.pending, known.streak = point, 0, 0
                continue
            if known.pending != side:  # the first frame on the other side
                if not segments_cross(known.point, point, a, b):  # passed beyond the segment's ends
                    known.side, known.point, known.pending, known.streak = side, point, 0, 0
                    continue
                known.pending, known.streak = side, 0
            known.streak += 1
            if known.streak >= self.confirm:
                direction = "in" if side > 0 else "out"
                self._counts[(direction, label)] += 1
                events.append(LineCrossed(self.spec.name, tid, label, direction, frame, time))
                known.side, known.point, known.pending, known.streak = side, point, 0, 0
        for tid in [t for t, known in self._side.items() if frame - known.seen > FORGET_AFTER]:
            del self._side[tid]
        return events

    def totals(self) -> LineTotals:
        counts: dict[str, dict[str, int]] = {"in": {}, "out": {}}
        for (direction, label), n in sorted(self._counts.items()):
            counts[direction][label] = n
        return LineTotals(self.spec.name, sum(counts["in"].values()), sum(counts["out"].values()), counts)

    @property
    def crossed(self) -> tuple[int, int]:
        """(in, out) so far, for drawing."""
        return (sum(n for (d, _), n in self._counts.items() if d == "in"),
                sum(n for (d, _), n in self._counts.items() if d == "out"))
