"""What line and zone analytics tell: one typed event per crossing, entry or exit, each with one
``to_json()`` (a JSON Lines record of its own, beside the frame records)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LineCrossed:
    """A track's reference point crossed a counting line; ``direction`` is ``in`` when it moved to the
    line's right-hand side (walking from its first point to its second, y down), ``out`` otherwise."""

    line: str
    tracker_id: int
    label: str
    direction: str  # in | out
    frame: int
    time: float  # seconds: the frame's media time, or its capture time for a live source

    event = "line_crossed"

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, **asdict(self)}


@dataclass(frozen=True)
class ZoneEntered:
    """A track's reference point went from outside a zone to inside it."""

    zone: str
    tracker_id: int
    label: str
    frame: int
    time: float

    event = "zone_entered"

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, **asdict(self)}


@dataclass(frozen=True)
class ZoneExited:
    """A track's reference point left a zone; ``dwell_s`` is how long it had been inside."""

    zone: str
    tracker_id: int
    label: str
    frame: int
    time: float
    dwell_s: float

    event = "zone_exited"

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, **asdict(self)}


Event = LineCrossed | ZoneEntered | ZoneExited
