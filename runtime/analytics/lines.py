"""Counting the tracks that cross a line, per class and direction (DeepStream's line crossing, supervision's
``LineZone``).

A track's side of the line is decided only when its reference point is more than ``margin`` pixels from the
line, so a box that jitters on the line is not counted again and again. A crossing is a change of decided
side whose step (from the point where the old side was last decided to the new point) meets the segment
itself, not just its line: an object passing beyond the segment's ends is not counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from edgedet.runtime.analytics.events import LineCrossed
from edgedet.runtime.analytics.geometry import segments_cross, signed_distance
from edgedet.runtime.analytics.specs import LineSpec

FORGET_AFTER = 600  # frames: a track unseen this long is forgotten (bounded memory on an endless camera)


@dataclass(frozen=True)
class LineTotals:
    """A line's crossings over the run: ``counts[direction][label]``."""

    line: str
    crossed_in: int
    crossed_out: int
    counts: dict[str, dict[str, int]]


class LineCounter:
    def __init__(self, spec: LineSpec, margin: float = 2.0) -> None:
        self.spec, self.margin = spec, margin
        self._side: dict[int, tuple[int, np.ndarray, int]] = {}  # track: (side, point, frame last seen)
        self._counts: Counter[tuple[str, str]] = Counter()

    def update(self, frame: int, time: float, ids: list[int], labels: list[str],
               points: np.ndarray) -> list[LineCrossed]:
        events = []
        a, b = self.spec.a, self.spec.b
        for tid, label, point, dist in zip(ids, labels, points, signed_distance(points, a, b)):
            known = self._side.get(tid)
            side = 1 if dist > self.margin else -1 if dist < -self.margin else 0
            if side == 0:  # on the line: keep what was decided, remember the track is alive
                if known is not None:
                    self._side[tid] = (known[0], known[1], frame)
                continue
            if known is not None and known[0] != side and segments_cross(known[1], point, a, b):
                direction = "in" if side > 0 else "out"
                self._counts[(direction, label)] += 1
                events.append(LineCrossed(self.spec.name, tid, label, direction, frame, time))
            self._side[tid] = (side, point, frame)
        for tid in [t for t, (_, _, seen) in self._side.items() if frame - seen > FORGET_AFTER]:
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
