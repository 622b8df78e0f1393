"""Multi-object trackers for the torch-free runtime: SORT, ByteTrack and OC-SORT, each written against its
paper on numpy and scipy's assignment solver.

    tracker = make_tracker("bytetrack", track_thresh=0.5)
    for frame in frames:
        tracked = tracker.update(detector([frame])[0])  # Detections with tracker_id
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.tracking.base import Tracker, TrackLives
from edgedet.runtime.tracking.bytetrack import ByteTrack
from edgedet.runtime.tracking.ocsort import OcSort
from edgedet.runtime.tracking.sort import Sort

TRACKERS: dict[str, type[Tracker]] = {"sort": Sort, "bytetrack": ByteTrack, "ocsort": OcSort}

__all__ = ["TRACKERS", "ByteTrack", "OcSort", "Sort", "TrackLives", "Tracker", "TrackerSpec", "make_tracker",
           "parse_params"]


def make_tracker(name: str, **params: Any) -> Tracker:
    """A new tracker by name (``sort``, ``bytetrack``, ``ocsort``) with its parameters (see each class)."""
    if name not in TRACKERS:
        raise EdgedetError(f"unknown tracker '{name}': use one of {', '.join(TRACKERS)}")
    accepted = list(inspect.signature(TRACKERS[name]).parameters)
    unknown = [key for key in params if key not in accepted]
    if unknown:
        raise EdgedetError(f"tracker '{name}' has no parameter '{unknown[0]}': its parameters are "
                           f"{', '.join(accepted)}")
    import scipy.optimize  # noqa: F401  (association's solver: loaded with a tracker, not by its first frame)

    try:
        return TRACKERS[name](**params)
    except (TypeError, ValueError) as exc:
        raise EdgedetError(f"tracker '{name}': {exc}") from None


@dataclass(frozen=True)
class TrackerSpec:
    """Which tracker a run uses and its parameters: what a run's options carry (to a Ray worker too), so
    every stream makes its own tracker from it."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def make(self) -> Tracker:
        return make_tracker(self.name, **self.params)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings into parameters: integers, floats and true/false as such."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise EdgedetError(f"tracker parameter '{pair}' is not KEY=VALUE, e.g. track_buffer=60")
        text = text.strip()
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    continue
        params[key.strip()] = value
    return params
