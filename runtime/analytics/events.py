"""What line and zone analytics tell: one typed event per crossing, entry or exit, each with one
``to_json()`` (a JSON Lines record of its own, beside the frame records)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class _Record:
    event: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The event's JSON Lines record: ``{"event": ..., **fields}``."""
        return {"event": self.event, **asdict(self)}


@dataclass(frozen=True)
class LineCrossed(_Record):
    """A track's reference point crossed a counting line; ``direction`` is ``in`` when it moved to the
    line's right-hand side (walking from its first point to its second, y down), ``out`` otherwise."""

    line: str
    tracker_id: int
    label: str
    direction: str  # in | out
    frame: int
    time: float  # seconds: the frame's media time, or its capture time for a live source

    event: ClassVar[str] = "line_crossed"


@dataclass(frozen=True)
class ZoneEntered(_Record):
    """A track's reference point went from outside a zone to inside it."""

    zone: str
    tracker_id: int
    label: str
    frame: int
    time: float

    event: ClassVar[str] = "zone_entered"


@dataclass(frozen=True)
class ZoneExited(_Record):
    """A track's reference point left a zone; ``dwell_s`` is how long it had been inside."""

    zone: str
    tracker_id: int
    label: str
    frame: int
    time: float
    dwell_s: float

    event: ClassVar[str] = "zone_exited"


Event = LineCrossed | ZoneEntered | ZoneExited
