"""Tracking evaluation of any detector with any tracker on sequences in MOTChallenge's layout (what
``edgedet data synth --task tracking`` writes): the stream engine runs each sequence's video with the
tracker and the sequence's counting lines and zone, then TrackEval scores the tracks against ``gt/gt.txt``
(``mot_metrics``) and the counts are compared with the true crossings and entries (``analytics.json``).

The same engine as ``edgedet run``, so what is measured is what a user runs: every backend, ``--detect-every``
included.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgedet.evaluation.mot_metrics import Row, TrackMetrics, mot_metrics
from edgedet.runtime.analytics import AnalyticsTotals, LineSpec, ZoneSpec
from edgedet.runtime.detections import Detections
from edgedet.runtime.detector import Detector
from edgedet.runtime.engine import Stream, StreamOptions, run_engine
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.report import RunReport
from edgedet.runtime.sinks import Sink
from edgedet.runtime.sources import open_source
from edgedet.runtime.tracking import TrackerSpec

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".m4v", ".mov")


@dataclass(frozen=True)
class TrackSequence:
    """One sequence folder: its frames (a video, or MOTChallenge's ``img1/``), ground truth and, when
    present, its counting lines and zones with their true counts."""

    name: str
    folder: Path
    source: str
    gt: Path
    frames: int
    truth: dict = field(default_factory=dict)  # analytics.json

    @property
    def lines(self) -> tuple[LineSpec, ...]:
        return tuple(LineSpec(ln["name"], tuple(tuple(p) for p in ln["points"])) for ln in self.truth.get("lines", ()))

    @property
    def zones(self) -> tuple[ZoneSpec, ...]:
        return tuple(ZoneSpec(z["name"], tuple(tuple(p) for p in z["polygon"])) for z in self.truth.get("zones", ()))


def find_sequences(data: Path) -> list[TrackSequence]:
    """``data`` itself when it is a sequence (it has ``gt/gt.txt``), else its sub-folders that are."""
    data = Path(data)
    if not data.is_dir():
        raise EdgedetError(f"tracking data '{data}' is not a folder: give a sequence folder (gt/gt.txt and a video "
                           "or img1/) or a folder of them")
    folders = [data] if (data / "gt" / "gt.txt").is_file() else sorted(
        p for p in data.iterdir() if (p / "gt" / "gt.txt").is_file())
    if not folders:
        raise EdgedetError(f"no sequence in '{data}': a sequence folder holds gt/gt.txt and a video or img1/")
    return [_sequence(folder) for folder in folders]


def _sequence(folder: Path) -> TrackSequence:
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if videos:
        source = str(videos[0])
    elif (folder / "img1").is_dir():
        source = str(folder / "img1")
    else:
        raise EdgedetError(f"sequence '{folder}' has no video and no img1/ folder of frames")
    gt = folder / "gt" / "gt.txt"
    try:
        frames = max((int(line.split(",")[0]) for line in gt.read_text().splitlines() if line.strip()), default=0)
    except ValueError:
        raise EdgedetError(f"'{gt}' is not MOTChallenge ground truth (frame,id,left,top,width,height,...)") from None
    truth_file = folder / "analytics.json"
    truth = json.loads(truth_file.read_text()) if truth_file.is_file() else {}
    return TrackSequence(folder.name, folder, source, gt, frames, truth)


class MotRows(Sink):
    """Every tracked detection as a MOTChallenge result row (frame from 1, id, box as left/top/width/height,
    score); a predicted box (``--detect-every``) too, as a tracker reports it."""

    needs_pixels = False

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def write(self, frame, detections, annotated) -> None:
        self.rows += mot_rows(frame.index, detections)


def mot_rows(index: int, tracked: Detections) -> list[Row]:
    """A frame's (``index`` from 0) tracked detections as MOTChallenge rows; none when untracked."""
    if tracked.tracker_id is None:
        return []
    return [(index + 1, int(tid), x1, y1, x2 - x1, y2 - y1, score) for (x1, y1, x2, y2), score, tid in
            zip(tracked.boxes.tolist(), tracked.scores.tolist(), tracked.tracker_id.tolist())]


@dataclass(frozen=True)
class CountCheck:
    """One line's or zone's counts on one sequence against the truth (``counts[direction][label]`` for a
    line, ``counts["entries"][label]`` for a zone)."""

    sequence: str
    kind: str  # line | zone
    name: str
    counted: dict[str, dict[str, int]]
    truth: dict[str, dict[str, int]]

    @property
    def exact(self) -> bool:
        return self.counted == self.truth

    @property
    def errors(self) -> int:
        """How far the counts are from the truth: the sum over directions (or entries) and labels of
        |counted - true|; a crossing counted under the wrong label is two."""
        cells = {(k, label) for part in (self.counted, self.truth) for k, v in part.items() for label in v}
        return sum(abs(self.counted.get(k, {}).get(label, 0) - self.truth.get(k, {}).get(label, 0))
                   for k, label in cells)

    @property
    def true_total(self) -> int:
        return sum(sum(v.values()) for v in self.truth.values())


@dataclass(frozen=True)
class TrackingEvaluation:
    tracker: str
    sequences: tuple[str, ...]
    metrics: dict[str, TrackMetrics]  # per sequence and COMBINED_SEQ
    counts: tuple[CountCheck, ...]
    fps: float  # frames per second of the runs, summed over sequences' frames and wall time
    frames: int

    @property
    def lines_exact(self) -> float:
        return _share([c for c in self.counts if c.kind == "line"])

    @property
    def zones_exact(self) -> float:
        return _share([c for c in self.counts if c.kind == "zone"])

    def count_errors(self, kind: str) -> tuple[int, int]:
        """(errors, true events) summed over the ``kind`` (line or zone) checks: a finer measure than the
        exact share, where one miss spoils a whole (sequence, line) pair."""
        mine = [c for c in self.counts if c.kind == kind]
        return sum(c.errors for c in mine), sum(c.true_total for c in mine)

    def to_json(self) -> dict:
        return {"tracker": self.tracker, "sequences": list(self.sequences), "frames": self.frames, "fps": self.fps,
                "metrics": {k: v.to_json() for k, v in self.metrics.items()},
                "lines_exact": self.lines_exact, "zones_exact": self.zones_exact,
                "count_errors": {kind: dict(zip(("errors", "true"), self.count_errors(kind)))
                                 for kind in ("line", "zone")},
                "counts": [{**asdict(c), "exact": c.exact, "errors": c.errors} for c in self.counts]}


def _share(checks: list[CountCheck]) -> float:
    return round(sum(c.exact for c in checks) / len(checks), 5) if checks else 1.0


def _by_label(items: list[dict]) -> dict[str, int]:
    return dict(sorted(Counter(item["label"] for item in items).items()))


def count_checks(seq: TrackSequence, analytics: AnalyticsTotals | None) -> list[CountCheck]:
    """The sequence's lines and zones as counted (a run's totals) against its truth."""
    checks = []
    if analytics is None:
        return checks
    truth_lines = {ln["name"]: ln for ln in seq.truth.get("lines", ())}
    for totals in analytics.lines:
        crossings = truth_lines[totals.line]["crossings"]
        truth = {d: _by_label([c for c in crossings if c["direction"] == d]) for d in ("in", "out")}
        checks.append(CountCheck(seq.name, "line", totals.line, {k: dict(v) for k, v in totals.counts.items()}, truth))
    truth_zones = {z["name"]: z for z in seq.truth.get("zones", ())}
    for totals in analytics.zones:
        truth = {"entries": _by_label(truth_zones[totals.zone]["entries"])}
        checks.append(CountCheck(seq.name, "zone", totals.zone, {"entries": dict(totals.entries_by_label)}, truth))
    return checks


def run_sequence(detector: Detector, seq: TrackSequence, options: StreamOptions) -> tuple[list[Row], RunReport]:
    rows = MotRows()
    opts = dataclasses.replace(options, lines=seq.lines, zones=seq.zones)
    report = run_engine(detector, [Stream(seq.name, open_source(seq.source), [rows])], opts)
    return rows.rows, report


def evaluate_tracking(detector: Detector, sequences: list[TrackSequence], track: TrackerSpec, conf: float = 0.25,
                      options: StreamOptions | None = None, env: Path | None = None,
                      progress: Callable[[str], None] | None = None) -> TrackingEvaluation:
    """Run every sequence with ``track`` and score it (TrackEval for the tracks, the truth for the counts)."""
    base = dataclasses.replace(options or StreamOptions(), conf=conf, track=track)
    results, checks, frames, wall = {}, [], 0, 0.0
    for seq in sequences:
        rows, report = run_sequence(detector, seq, base)
        if progress:
            progress(seq.name)
        results[seq.name] = rows
        checks += count_checks(seq, report.sources[0].analytics)
        frames += report.frames_processed
        wall += report.wall_s
    metrics = mot_metrics({s.name: s.gt for s in sequences}, {s.name: s.frames for s in sequences},
                          {"edgedet": results}, env)["edgedet"]
    return TrackingEvaluation(track.name, tuple(s.name for s in sequences), metrics, tuple(checks),
                              round(frames / max(wall, 1e-9), 3), frames)
