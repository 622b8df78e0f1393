"""The stream engine's typed results: the run report, one report per source, latency summaries and status
updates. One shape for one source or many (always a ``sources`` list), versioned (``schema_version``) and
described by ``docs/report.schema.json``; ``to_json()`` is the one place a result becomes a dict, so the CLI,
the demo and the Ray driver read fields, not keys.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgedet.runtime.analytics import AnalyticsTotals
from edgedet.runtime.captures import ARRIVAL
from edgedet.runtime.detector import Detector
from edgedet.runtime.host import host_info
from edgedet.runtime.sources import Source
from edgedet.runtime.stats import OPTIONAL_STAGES, STAGES, LatencyRecorder, summarize

SCHEMA_VERSION = 4  # 2: each source's ``tracks``; 3: its ``analytics``; 4: ``clock``, ``e2e_arrival_ms``, ``gave_up``


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of one series, in milliseconds."""

    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    mean: float = 0.0
    count: int = 0

    @classmethod
    def of(cls, samples: list[float]) -> LatencySummary:
        return cls(**summarize(samples))

    @classmethod
    def from_recorder(cls, rec: LatencyRecorder, name: str) -> LatencySummary:
        return cls(**rec.summary(name))


@dataclass(frozen=True)
class ModelInfo:
    model: str
    architecture: str
    canvas: tuple[int, int]
    backend: str
    provider: str
    precision: str

    @classmethod
    def of(cls, detector: Detector) -> ModelInfo:
        info = detector.describe()
        return cls(info.model, info.architecture, tuple(detector.canvas), info.backend, info.device, info.precision)


@dataclass(frozen=True)
class SourceHealth:
    """What went wrong with one source's input."""

    decode_errors: int = 0
    outages: int = 0
    unreadable: int = 0
    unreadable_files: tuple[str, ...] = ()
    frames_expected: int | None = None
    ended_early: bool = False
    gave_up: bool = False  # a live stream that stayed down past its give-up time

    @classmethod
    def of(cls, source: Source) -> SourceHealth:
        return cls(source.decode_errors, source.outages, len(source.unreadable), tuple(source.unreadable),
                   source.frames_expected, source.ended_early, source.gave_up)


@dataclass(frozen=True)
class SourceReport:
    name: str
    source: str
    live: bool
    frames_in: int
    frames_processed: int
    frames_dropped: int
    fps: float
    e2e_ms: LatencySummary
    frame_age_ms: LatencySummary
    health: SourceHealth
    worker: int | None = None  # the Ray worker that ran it last
    restarts: tuple[Restart, ...] = ()  # the Ray driver's record of each resume
    tracks: TrackSummary | None = None  # with a tracker
    analytics: AnalyticsTotals | None = None  # with counting lines or zones
    clock: str = ARRIVAL  # whose clock e2e starts from: the camera's where the stream carries it
    e2e_arrival_ms: LatencySummary | None = None  # e2e from arrival, beside a camera clock's e2e

    def to_json(self) -> dict[str, Any]:
        """One entry of the report's ``sources`` (its health counters at the entry's own level)."""
        entry = asdict(self)
        health = entry.pop("health")
        return _plain({**entry, **health})


@dataclass(frozen=True)
class TrackSummary:
    """A source's tracks over the run: how many were confirmed and ended (every track ends with its
    stream), and how long they lasted in frames (first to last match)."""

    tracker: str
    started: int
    finished: int
    length_frames: dict[str, float]

    @classmethod
    def of(cls, tracker: str, started: int, lengths: list[int]) -> TrackSummary:
        values = np.asarray(lengths, np.float64)
        stats = ({"p50": float(np.percentile(values, 50)), "max": float(values.max()),
                  "mean": round(float(values.mean()), 3)} if values.size else {"p50": 0.0, "max": 0.0, "mean": 0.0})
        return cls(tracker, started, len(lengths), stats)


@dataclass(frozen=True)
class Restart:
    """A source's group started again on a new worker after one died."""

    after_worker: int
    worker: int
    resumed_at_frame: int | None  # a file's first frame the new worker reads; None for a live source


@dataclass(frozen=True)
class WorkerRecord:
    """One Ray worker of a run: which sources it ran, where, and how it ended."""

    worker: int
    group: int
    sources: tuple[str, ...]
    status: str  # starting | running | finished | died | failed
    host: str | None = None
    node: str | None = None
    pid: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class RayFacts:
    workers: tuple[WorkerRecord, ...]
    restarts: int
    duplicates_dropped: int


@dataclass(frozen=True)
class RunReport:
    """A run of one or more sources; totals are sums over ``sources``, percentiles are over all frames."""

    model: ModelInfo | None
    sources: tuple[SourceReport, ...]
    frames_processed: int
    wall_s: float
    e2e_ms: LatencySummary
    frame_age_ms: LatencySummary
    stages_ms: dict[str, LatencySummary]
    queue_wait_ms: LatencySummary  # inference waiting for the post-process/sink stage: back-pressure
    batch_size: LatencySummary
    host: dict = field(default_factory=host_info)
    finished_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    ray: RayFacts | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def fps(self) -> float:
        return round(self.frames_processed / max(self.wall_s, 1e-9), 3)

    def total(self, field_name: str) -> int:
        """A health counter (``decode_errors``, ``outages``, ``unreadable``) or ``frames_in``/``frames_dropped``
        summed over the sources."""
        return sum(getattr(s, field_name) if hasattr(s, field_name) else getattr(s.health, field_name)
                   for s in self.sources)

    @property
    def ended_early(self) -> bool:
        return any(s.health.ended_early for s in self.sources)

    @property
    def frames_expected(self) -> int | None:
        return sum(s.health.frames_expected or 0 for s in self.sources) or None

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (docs/report.schema.json): the model's facts and the sources' totals at the top
        level too, as scripts read them."""
        body = asdict(self)
        model = body.pop("model") or {}
        body.pop("sources")
        sources = [source.to_json() for source in self.sources]
        totals = {name: self.total(name) for name in ("frames_in", "frames_dropped", "decode_errors", "outages",
                                                      "unreadable")}
        return _plain({"schema_version": body.pop("schema_version"), **model,
                "source": ", ".join(s.name for s in self.sources), "live": any(s.live for s in self.sources),
                **totals, "unreadable_files": [f for s in self.sources for f in s.health.unreadable_files],
                "frames_expected": self.frames_expected, "ended_early": self.ended_early, "fps": self.fps,
                **body, "sources": sources})


@dataclass(frozen=True)
class StatusUpdate:
    """A live progress line of a run (local or on Ray)."""

    frames: int
    fps: float
    e2e_ms: float = 0.0
    inference_ms: float = 0.0
    dropped: int = 0
    outages: int = 0
    decode_errors: int = 0
    workers: int | None = None
    restarts: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.workers is not None:
            return f"{self.frames} frames  {self.fps:.1f} fps  workers {self.workers}  restarts {self.restarts}"
        return (f"{self.frames} frames  {self.fps:.1f} fps  e2e {self.e2e_ms:.0f} ms  infer {self.inference_ms:.0f} ms"
                f"  dropped {self.dropped}  outages {self.outages}  undecodable {self.decode_errors}")


def _plain(value: Any) -> Any:
    """JSON's own types: tuples become lists (``asdict`` keeps them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def stage_summaries(rec: LatencyRecorder) -> dict[str, LatencySummary]:
    names = STAGES + tuple(name for name in OPTIONAL_STAGES if rec.count(name))
    return {name: LatencySummary.from_recorder(rec, name) for name in names}
