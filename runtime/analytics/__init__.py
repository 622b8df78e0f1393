"""Line and zone analytics on tracked detections: counts of the tracks crossing lines (per class and
direction), zone occupancy, entries, exits and dwell time, as events and as totals.

    analytics = Analytics([parse_line("door=100,400,540,400")], [parse_zone("lot=0,0,320,0,320,240")])
    for frame in frames:
        tracked = tracker.update(detector([frame.image])[0])
        for event in analytics.update(frame, tracked):
            print(event.to_json())
    analytics.totals()

One ``Analytics`` per stream, fed its frames in order: a local run's output thread, or the Ray driver, which
receives every frame once and in order whichever worker ran it, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edgedet.runtime.analytics.events import Event, LineCrossed, ZoneEntered, ZoneExited
from edgedet.runtime.analytics.geometry import anchor_points
from edgedet.runtime.analytics.lines import CONFIRM_FRAMES, MARGIN_PX, LineCounter, LineTotals
from edgedet.runtime.analytics.specs import LineSpec, ZoneSpec, check_names, for_source, parse_line, parse_zone
from edgedet.runtime.analytics.zones import ZoneMonitor, ZoneTotals
from edgedet.runtime.detections import Detections
from edgedet.runtime.frames import Frame

__all__ = ["CONFIRM_FRAMES", "MARGIN_PX", "Analytics", "AnalyticsTotals", "Event", "LineCrossed", "LineSpec",
           "LineTotals", "ZoneEntered", "ZoneExited", "ZoneSpec", "ZoneTotals", "check_names", "for_source",
           "parse_line", "parse_zone"]

LINE_COLOR = (255, 64, 160)
ZONE_COLOR = (64, 200, 255)


@dataclass(frozen=True)
class AnalyticsTotals:
    """A source's lines and zones over the run (its report's ``analytics``)."""

    lines: tuple[LineTotals, ...]
    zones: tuple[ZoneTotals, ...]


class Analytics:
    """The lines and zones of one stream. ``margin`` (pixels) is how far from a line or a zone's boundary a
    reference point must be for its side to count; ``confirm`` how many decided frames in a row on the new
    side a change needs before it counts (see ``LineCounter``)."""

    def __init__(self, lines: Sequence[LineSpec] = (), zones: Sequence[ZoneSpec] = (), margin: float = MARGIN_PX,
                 confirm: int = CONFIRM_FRAMES) -> None:
        self.lines = [LineCounter(spec, margin, confirm) for spec in lines]
        self.zones = [ZoneMonitor(spec, margin, confirm) for spec in zones]

    @classmethod
    def for_source(cls, lines: Sequence[LineSpec], zones: Sequence[ZoneSpec], source: str,
                   confirm: int = CONFIRM_FRAMES) -> Analytics | None:
        """The analytics of the source named ``source``; None when no line or zone applies to it."""
        mine_lines, mine_zones = for_source(lines, source), for_source(zones, source)
        return cls(mine_lines, mine_zones, confirm=confirm) if mine_lines or mine_zones else None

    def update(self, frame: Frame, detections: Detections) -> list[Event]:
        """This frame's events (tracked detections; untracked ones have no objects to count)."""
        if detections.tracker_id is None or not len(detections):
            ids, labels, points = [], [], np.zeros((0, 2))
        else:
            ids = detections.tracker_id.tolist()
            labels = [detections.name(int(lb)) for lb in detections.labels]
            points = anchor_points(detections.boxes)
        time = round(frame.source_time_s if frame.source_time_s is not None else frame.captured, 6)
        events: list[Event] = []
        for counter in self.lines:
            events += counter.update(frame.index, time, ids, labels, points)
        for zone in self.zones:
            events += zone.update(frame.index, time, ids, labels, points)
        return events

    def totals(self) -> AnalyticsTotals:
        return AnalyticsTotals(tuple(c.totals() for c in self.lines), tuple(z.totals() for z in self.zones))

    def draw(self, image: np.ndarray) -> None:
        """Each zone's outline with its occupancy and entries, each line with its in/out counts, in place."""
        t = max(1, round(min(image.shape[:2]) / 300))
        scale = max(0.35, min(image.shape[:2]) / 900)
        for zone in self.zones:
            corners = np.round(zone.spec.corners).astype(np.int32)
            _tint(image, corners, ZONE_COLOR)
            cv2.polylines(image, [corners], True, ZONE_COLOR, t, cv2.LINE_AA)
            _label(image, f"{zone.spec.name}: {zone.occupancy} inside, {zone.entries} in",
                   tuple(corners.min(axis=0)), ZONE_COLOR, scale)
        for counter in self.lines:
            a, b = (tuple(int(round(v)) for v in p) for p in counter.spec.points)
            cv2.line(image, a, b, LINE_COLOR, t + 1, cv2.LINE_AA)
            crossed_in, crossed_out = counter.crossed
            _label(image, f"{counter.spec.name}: in {crossed_in} out {crossed_out}", a, LINE_COLOR, scale)


def _tint(image: np.ndarray, corners: np.ndarray, color: tuple[int, int, int]) -> None:
    """Blend the polygon's fill into the image (a fifth of ``color``), working on its bounding box only: a
    whole-frame copy per zone and frame would cost more than the drawing."""
    x0, y0 = np.maximum(corners.min(axis=0), 0)
    x1, y1 = np.minimum(corners.max(axis=0) + 1, (image.shape[1], image.shape[0]))
    if x1 <= x0 or y1 <= y0:
        return
    roi = image[y0:y1, x0:x1]
    overlay = roi.copy()
    cv2.fillPoly(overlay, [corners - (x0, y0)], color)
    cv2.addWeighted(overlay, 0.2, roi, 0.8, 0, dst=roi)


def _label(image: np.ndarray, text: str, at: tuple[int, int], color: tuple[int, int, int], scale: float) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = int(min(max(at[0], 0), max(image.shape[1] - tw, 0)))
    y = int(min(max(at[1], th + base), image.shape[0]))
    cv2.rectangle(image, (x, y - th - base), (x + tw, y), color, -1)
    cv2.putText(image, text, (x, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
