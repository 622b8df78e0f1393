"""Watching a polygon zone: which tracks are inside now (occupancy), entries, exits and how long each track
stayed (DeepStream's ROI occupancy, supervision's ``PolygonZone``).

As with lines, inside or outside is decided only more than ``margin`` pixels from the boundary, and a move
across it is confirmed over frames. An entry is a track seen outside that is then inside; a track first
seen inside (it appeared there, or its track started there) is counted in occupancy and dwell but is not an
entry, so a track broken in two inside the zone does not enter twice; a track first seen within the margin
of the boundary is placed by its first decided point. A track that vanishes while inside neither exits nor
is forgotten at once: it may come back from behind an occluder."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edgedet.runtime.analytics.events import ZoneEntered, ZoneExited
from edgedet.runtime.analytics.geometry import inside_depth
from edgedet.runtime.analytics.lines import CONFIRM_FRAMES, FORGET_AFTER, MARGIN_PX
from edgedet.runtime.analytics.specs import ZoneSpec


@dataclass
class _Presence:
    inside: bool | None  # None: not yet decided (seen only within the margin of the boundary)
    since: float  # when it was last found inside (entry or first sight)
    seen: int  # the frame it was last seen
    streak: int = 0  # decided frames in a row on the other side of the boundary, not yet confirmed
    moved: float = 0.0  # when that streak began


@dataclass(frozen=True)
class ZoneTotals:
    """A zone over the run: entries and exits, the most tracks inside at once, those inside when the run
    ended, and how long the tracks that exited had stayed (seconds)."""

    zone: str
    entries: int
    exits: int
    max_occupancy: int
    inside_at_end: int
    dwell_s: dict[str, float] = field(default_factory=dict)  # p50, max, mean over exits
    entries_by_label: dict[str, int] = field(default_factory=dict)


class ZoneMonitor:
    """``confirm``: decided frames in a row a track must be seen on the other side of the boundary before
    it enters or exits (as a line's crossing, against a half-hidden box's flicker); the event is told on
    the frame it is confirmed, its dwell time measured from the first frames of the streaks."""

    def __init__(self, spec: ZoneSpec, margin: float = MARGIN_PX, confirm: int = CONFIRM_FRAMES) -> None:
        if confirm < 1:
            raise ValueError(f"confirm must be at least 1 frame, got {confirm}")
        self.spec, self.margin, self.confirm = spec, margin, confirm
        self._tracks: dict[int, _Presence] = {}
        self.entries = self.exits = self.max_occupancy = self.occupancy = 0
        self._dwell: list[float] = []
        self._entries_by_label: Counter[str] = Counter()

    def update(self, frame: int, time: float, ids: list[int], labels: list[str],
               points: np.ndarray) -> list[ZoneEntered | ZoneExited]:
        events: list[ZoneEntered | ZoneExited] = []
        for tid, label, depth in zip(ids, labels, inside_depth(points, self.spec.corners)):
            now_inside = True if depth > self.margin else False if depth < -self.margin else None
            known = self._tracks.get(tid)
            if known is None:
                self._tracks[tid] = _Presence(now_inside, time, frame)
                continue
            known.seen = frame
            if now_inside is None:
                continue
            if known.inside is None:  # its first decided place: inside is where it was first seen, not an entry
                known.inside, known.since = now_inside, time
                continue
            if now_inside == known.inside:  # a flicker over the boundary is forgotten
                known.streak = 0
                continue
            known.streak += 1
            if known.streak == 1:
                known.moved = time
            if known.streak < self.confirm:
                continue
            known.inside, known.streak = now_inside, 0
            if now_inside:
                self.entries += 1
                self._entries_by_label[label] += 1
                known.since = known.moved
                events.append(ZoneEntered(self.spec.name, tid, label, frame, time))
            else:
                self.exits += 1
                dwell = round(known.moved - known.since, 4)
                self._dwell.append(dwell)
                events.append(ZoneExited(self.spec.name, tid, label, frame, time, dwell))
        present = set(ids)
        self.occupancy = sum(1 for tid, p in self._tracks.items() if p.inside and tid in present)
        self.max_occupancy = max(self.max_occupancy, self.occupancy)
        for tid in [t for t, p in self._tracks.items() if frame - p.seen > FORGET_AFTER]:
            del self._tracks[tid]
        return events

    def totals(self) -> ZoneTotals:
        values = np.asarray(self._dwell, np.float64)
        dwell = ({"p50": round(float(np.percentile(values, 50)), 4), "max": round(float(values.max()), 4),
                  "mean": round(float(values.mean()), 4)} if values.size else {"p50": 0.0, "max": 0.0, "mean": 0.0})
        return ZoneTotals(self.spec.name, self.entries, self.exits, self.max_occupancy,
                          sum(p.inside is True for p in self._tracks.values()), dwell,
                          dict(sorted(self._entries_by_label.items())))
