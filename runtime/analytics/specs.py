"""Counting lines and zones as a user names them: ``[SOURCE:]NAME=x1,y1,x2,y2`` for a line,
``[SOURCE:]NAME=x1,y1,x2,y2,x3,y3,...`` for a zone (a polygon of at least three corners), in frame pixels of
the source; without ``SOURCE:`` a line or zone applies to every source of the run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgedet.runtime.errors import EdgedetError


@dataclass(frozen=True)
class LineSpec:
    name: str
    points: tuple[tuple[float, float], tuple[float, float]]
    source: str | None = None  # None: every source

    @property
    def a(self) -> np.ndarray:
        return np.asarray(self.points[0], np.float64)

    @property
    def b(self) -> np.ndarray:
        return np.asarray(self.points[1], np.float64)


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    polygon: tuple[tuple[float, float], ...]
    source: str | None = None

    @property
    def corners(self) -> np.ndarray:
        return np.asarray(self.polygon, np.float64)


def _split(text: str, what: str, example: str) -> tuple[str | None, str, list[float]]:
    head, sep, coords = text.partition("=")
    source, colon, name = head.rpartition(":")
    name, source = name.strip(), (source.strip() if colon else None)
    if not sep or not name or (colon and not source):
        raise EdgedetError(f"{what} '{text}' is not [SOURCE:]NAME=COORDINATES, e.g. {example}")
    try:
        values = [float(v) for v in coords.split(",")]
    except ValueError:
        raise EdgedetError(f"{what} '{text}': its coordinates are not numbers, e.g. {example}") from None
    if not all(np.isfinite(values)):
        raise EdgedetError(f"{what} '{text}': its coordinates must be finite numbers")
    return source, name, values


def parse_line(text: str) -> LineSpec:
    example = "door=100,400,540,400"
    source, name, v = _split(text, "line", example)
    if len(v) != 4:
        raise EdgedetError(f"line '{text}' needs 4 numbers x1,y1,x2,y2 (it has {len(v)}), e.g. {example}")
    if (v[0], v[1]) == (v[2], v[3]):
        raise EdgedetError(f"line '{text}': its two points are the same; give two different points")
    return LineSpec(name, ((v[0], v[1]), (v[2], v[3])), source)


def parse_zone(text: str) -> ZoneSpec:
    example = "lot=100,100,500,100,500,400,100,400"
    source, name, v = _split(text, "zone", example)
    if len(v) < 6 or len(v) % 2:
        raise EdgedetError(f"zone '{text}' needs 3 or more x,y corners (an even count of at least 6 numbers, "
                           f"it has {len(v)}), e.g. {example}")
    corners = tuple((v[i], v[i + 1]) for i in range(0, len(v), 2))
    x, y = np.asarray(corners).T
    if abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) < 1e-9:
        raise EdgedetError(f"zone '{text}' has no area: its corners lie on one line")
    return ZoneSpec(name, corners, source)


def for_source(specs: Sequence[LineSpec | ZoneSpec], source: str) -> list:
    """The lines or zones that apply to the source named ``source``."""
    return [spec for spec in specs if spec.source in (None, source)]


def check_names(lines: Sequence[LineSpec], zones: Sequence[ZoneSpec], sources: Sequence[str]) -> None:
    """Every ``SOURCE:`` names a source of the run, and no name is used twice for one source."""
    for spec in [*lines, *zones]:
        if spec.source is not None and spec.source not in sources:
            kind = "line" if isinstance(spec, LineSpec) else "zone"
            raise EdgedetError(f"{kind} '{spec.name}' is for source '{spec.source}', which this run does not "
                               f"have: its sources are {', '.join(sources)}")
    for source in sources:
        names = [s.name for s in for_source(lines, source)] + [s.name for s in for_source(zones, source)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise EdgedetError(f"source '{source}' has two lines or zones named '{twice[0]}': give each its own "
                               "name")
