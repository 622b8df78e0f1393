"""Why line and zone counts are off: a model's detections on the tracking sequences, replayed through each
tracker and the analytics as ``edgedet eval-tracks`` runs them (``engine.track_frame``, the run's
defaults), beside an oracle detector (the true boxes of the shapes at least V visible, score 1, true
label), with every true crossing and entry accounted for.

Counting is scored per (sequence, line) pair, where one miss spoils the pair; this says where the misses
come from. A true event is *counted* (an event of its line, kind and direction told within ``WINDOW``
frames; *wrong label* when told under another class) or *missed*, with the object's visibility on the
frame it crossed (*hidden*: under 0.1, which no detector sees; *half*: under 0.3; *seen*) and the tracks
that followed it across (one track on both sides, or a track broken there). A told event that no true one
explains is *extra*. The oracle's rows are the ceiling of the trackers and the counting rule: what a
detector perfect on every shape at least V visible would count.

Beside them, the detector alone: of the true boxes in each band of visibility, the share it found (a box of
IoU at least 0.5, paired one to one) and found under the right label, and its boxes left unpaired (no
shape's, or a second box on one) per frame, at the run's threshold. Read against the oracle rows, this
says how far the detector is from one that would count right.

    python bench/counting.py --model runs/demo/model.onnx --data data/tracks
    python bench/counting.py --model runs/demo/model.onnx --data data/tracks --track bytetrack --list
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgedet.evaluation.tracking_eval import CountCheck, TrackSequence, count_checks, find_sequences
from edgedet.runtime.analytics import CONFIRM_FRAMES, Analytics, AnalyticsTotals, Event, LineCrossed, ZoneEntered
from edgedet.runtime.detections import Detections
from edgedet.runtime.engine import track_frame
from edgedet.runtime.frames import Frame
from edgedet.runtime.tracking import TRACKERS, TrackerSpec, parse_params
from edgedet.runtime.tracking.association import assign, iou_matrix

sys.path.insert(0, str(Path(__file__).parent))
from tracking import FRAME_RATE, detections_of  # noqa: E402

WINDOW = 15  # frames between a true event and the told event that accounts for it
HIDDEN, HALF = 0.1, 0.3  # visibility under which a crossing is hidden, half-hidden
FOLLOW_IOU = 0.5  # a track follows the object on a frame where its box overlaps the true box this much
UNPAIRABLE = 1e6  # the cost of a truth and told event of other lines, directions or times: never paired
NO_PIXELS = np.zeros((1, 1, 3), np.uint8)  # the analytics read a frame's index and time, not its pixels


@dataclass(frozen=True)
class TrueEvent:
    """A crossing (direction in/out) or a zone entry (direction "entry") of the truth; ``frame`` from 0,
    the frame it is told on."""

    sequence: str
    kind: str  # line | zone
    name: str
    object_id: int
    frame: int
    label: str
    direction: str


@dataclass(frozen=True)
class Accounted:
    """What became of one true event: ``outcome`` counted | wrong label | missed; the object's visibility
    on the frame it crossed; the ids of the tracks that followed it around the crossing, in order."""

    event: TrueEvent
    outcome: str
    visibility: float
    tracks: tuple[int, ...]

    @property
    def cause(self) -> str:
        if self.outcome != "missed":
            return self.outcome
        seen = "hidden" if self.visibility < HIDDEN else "half" if self.visibility < HALF else "seen"
        return f"missed {seen}"


@dataclass(frozen=True)
class Told:
    """A line crossing (direction in/out) or zone entry (direction "entry") that a replay told."""

    sequence: str
    kind: str
    name: str
    tracker_id: int
    frame: int
    label: str
    direction: str


VISIBILITY_BANDS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0)  # the last band holds 1.0 too
FOUND_IOU = 0.5  # a true box is found by a detector's box that overlaps it this much (paired one to one)


@dataclass(frozen=True)
class Band:
    """The true boxes whose visibility is in [low, high) (up to 1.0 in the last band): how many, how many a
    detector found, and how many it found under their own label."""

    low: float
    high: float
    boxes: int
    found: int
    labelled: int


@dataclass(frozen=True)
class Found:
    """A detector's boxes on the sequences against the true ones, by visibility band; ``false_per_frame``:
    its boxes that no true box (of any visibility) pairs with, per frame: no shape's, or a second box on one."""

    detections: str
    bands: tuple[Band, ...]
    false_per_frame: float

    def to_json(self) -> dict:
        return {"detections": self.detections, "bands": [asdict(b) for b in self.bands],
                "false_per_frame": self.false_per_frame}


def found_by_visibility(name: str, frames_of: dict[str, list[Detections]], rows_of: dict[str, np.ndarray],
                        conf: float) -> Found:
    """Each frame's boxes of at least ``conf`` paired one to one with its true boxes (the assignment that
    maximises the total IoU, pairs under ``FOUND_IOU`` refused), counted per band of the true box's visibility."""
    edges = np.asarray(VISIBILITY_BANDS)
    boxes, found, labelled = (np.zeros(len(edges) - 1, np.int64) for _ in range(3))
    false, frames = 0, 0
    for seq, frames_here in frames_of.items():
        rows = rows_of[seq]
        for index, dets in enumerate(frames_here):
            frames += 1
            keep = np.flatnonzero(np.asarray(dets.scores) >= conf)
            here = rows[rows[:, 0] == index + 1]
            band = np.searchsorted(edges[1:-1], here[:, 8], side="right")
            np.add.at(boxes, band, 1)
            pairs, _, free = assign(iou_matrix(true_boxes(here), dets.boxes[keep]), FOUND_IOU)
            false += len(free)
            np.add.at(found, band[pairs[:, 0]], 1)
            right = here[pairs[:, 0], 7].astype(np.int64) == dets.labels[keep][pairs[:, 1]]
            np.add.at(labelled, band[pairs[right, 0]], 1)
    bands = tuple(Band(float(lo), float(hi), int(n), int(f), int(lab))
                  for lo, hi, n, f, lab in zip(edges[:-1], edges[1:], boxes, found, labelled))
    return Found(name, bands, round(false / max(frames, 1), 3))


@dataclass(frozen=True)
class Replay:
    """One detector's frames with one tracker on every sequence: the count checks and the accounting."""

    detections: str
    tracker: str
    checks: tuple[CountCheck, ...]
    accounted: tuple[Accounted, ...]
    extras: tuple[Told, ...]  # the told events no true one explains

    def exact(self, kind: str) -> tuple[int, int]:
        mine = [c for c in self.checks if c.kind == kind]
        return sum(c.exact for c in mine), len(mine)

    def errors(self, kind: str) -> int:
        return sum(c.errors for c in self.checks if c.kind == kind)

    def causes(self) -> dict[str, int]:
        out = {c: 0 for c in ("counted", "wrong label", "missed hidden", "missed half", "missed seen")}
        for a in self.accounted:
            out[a.cause] += 1
        return {**out, "extra": len(self.extras)}

    def to_json(self, events: bool = False) -> dict:
        (lines, line_pairs), (zones, zone_pairs) = self.exact("line"), self.exact("zone")
        row = {"detections": self.detections, "tracker": self.tracker, "lines_exact": lines, "line_pairs": line_pairs,
               "zones_exact": zones, "zone_pairs": zone_pairs, "line_errors": self.errors("line"),
               "zone_errors": self.errors("zone"), "causes": self.causes()}
        if events:
            row["accounted"] = [{**asdict(a.event), "outcome": a.cause, "visibility": a.visibility,
                                 "tracks": list(a.tracks)} for a in self.accounted if a.outcome != "counted"]
            row["extras"] = [asdict(e) for e in self.extras]
        return row


def ground_truth(seq: TrackSequence) -> np.ndarray:
    """``gt/gt.txt`` as rows: frame (from 1), id, left, top, width, height, 1, class, visibility."""
    return np.loadtxt(seq.gt, delimiter=",", ndmin=2)


def true_boxes(rows: np.ndarray) -> np.ndarray:
    return np.stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], axis=1)


def oracle_frames(seq: TrackSequence, rows: np.ndarray, min_visibility: float) -> list[Detections]:
    """The true box of every shape at least ``min_visibility`` visible, as a detector's output."""
    names = ("__background__", *seq.truth["classes"])
    frames = []
    for index in range(seq.frames):
        here = rows[(rows[:, 0] == index + 1) & (rows[:, 8] >= min_visibility)]
        frames.append(Detections(true_boxes(here), np.ones(len(here)), here[:, 7].astype(np.int64), names))
    return frames


def replay(frames: list[Detections], seq: TrackSequence, tracker: TrackerSpec, conf: float, confirm: int
           ) -> tuple[AnalyticsTotals, list[Event], list[Detections]]:
    """The frames through a new tracker and the sequence's lines and zones: totals, events, tracked frames."""
    tracks = tracker.make()
    analytics = Analytics(seq.lines, seq.zones, confirm=confirm)
    events: list[Event] = []
    outputs = []
    for index, dets in enumerate(frames):
        out = track_frame(tracks, dets, conf)
        outputs.append(out)
        time = index / FRAME_RATE
        events += analytics.update(Frame(index, NO_PIXELS, time, time), out)
    return analytics.totals(), events, outputs


def true_events(seq: TrackSequence) -> list[TrueEvent]:
    out = [TrueEvent(seq.name, "line", line["name"], c["id"], c["frame"] - 1, c["label"], c["direction"])
           for line in seq.truth.get("lines", ()) for c in line["crossings"]]
    out += [TrueEvent(seq.name, "zone", zone["name"], e["id"], e["frame"] - 1, e["label"], "entry")
            for zone in seq.truth.get("zones", ()) for e in zone["entries"]]
    return out


def told_events(seq: TrackSequence, events: list[Event]) -> list[Told]:
    """The line crossings and zone entries a replay told (exits are not scored)."""
    out = []
    for e in events:
        if isinstance(e, LineCrossed):
            out.append(Told(seq.name, "line", e.line, e.tracker_id, e.frame, e.label, e.direction))
        elif isinstance(e, ZoneEntered):
            out.append(Told(seq.name, "zone", e.zone, e.tracker_id, e.frame, e.label, "entry"))
    return out


def followers(rows: np.ndarray, outputs: list[Detections], object_id: int, first: int, last: int) -> tuple[int, ...]:
    """The ids of the tracks whose boxes overlapped the object's true box on frames ``first``..``last``."""
    ids: list[int] = []
    for index in range(max(first, 0), min(last, len(outputs) - 1) + 1):
        here = rows[(rows[:, 0] == index + 1) & (rows[:, 1] == object_id)]
        out = outputs[index]
        if not len(here) or not len(out) or out.tracker_id is None:
            continue
        overlap = iou_matrix(true_boxes(here), out.boxes)[0]
        best = int(overlap.argmax())
        if overlap[best] >= FOLLOW_IOU and (not ids or ids[-1] != int(out.tracker_id[best])):
            ids.append(int(out.tracker_id[best]))
    return tuple(ids)


def account(seq: TrackSequence, rows: np.ndarray, events: list[Event], outputs: list[Detections], confirm: int
            ) -> tuple[list[Accounted], list[Told]]:
    """Each true event paired with at most one told event of its line (or zone) and direction within
    ``WINDOW`` frames, by an optimal assignment that prefers a told event of a track that followed the
    object, then one of its label, then the nearest in time; the told events left over are extras."""
    told = told_events(seq, events)
    truths = sorted(true_events(seq), key=lambda e: e.frame)
    seen, follow = [], []
    for truth in truths:
        crossed = truth.frame - confirm + 1  # the first frame on the new side
        here = rows[(rows[:, 0] == crossed + 1) & (rows[:, 1] == truth.object_id)]
        seen.append(float(here[0, 8]) if len(here) else 0.0)
        follow.append(followers(rows, outputs, truth.object_id, crossed - 5, truth.frame + 2))
    cost = np.full((len(truths), len(told)), np.inf)
    for i, truth in enumerate(truths):
        for j, t in enumerate(told):
            if (t.kind, t.name, t.direction) == (truth.kind, truth.name, truth.direction) and \
                    abs(t.frame - truth.frame) <= WINDOW:
                cost[i, j] = (4.0 * (t.tracker_id not in follow[i]) + 2.0 * (t.label != truth.label)
                              + abs(t.frame - truth.frame) / WINDOW)
    pairs, _, _ = assign(np.where(np.isfinite(cost), -cost, -UNPAIRABLE), -UNPAIRABLE / 2)
    pair = {int(i): int(j) for i, j in pairs}
    accounted = []
    for i, truth in enumerate(truths):
        j = pair.get(i)
        outcome = "missed" if j is None else "counted" if told[j].label == truth.label else "wrong label"
        accounted.append(Accounted(truth, outcome, round(seen[i], 3), follow[i]))
    paired = set(pair.values())
    return accounted, [t for j, t in enumerate(told) if j not in paired]


def evaluate(name: str, frames_of: dict[str, list[Detections]], sequences: list[TrackSequence],
             rows_of: dict[str, np.ndarray], tracker: TrackerSpec, conf: float, confirm: int) -> Replay:
    checks, accounted, extras = [], [], []
    for seq in sequences:
        totals, events, outputs = replay(frames_of[seq.name], seq, tracker, conf, confirm)
        checks += count_checks(seq, totals)
        mine, left = account(seq, rows_of[seq.name], events, outputs, confirm)
        accounted += mine
        extras += left
    return Replay(name, tracker.name, tuple(checks), tuple(accounted), tuple(extras))


def print_table(replays: list[Replay]) -> None:
    print(f"{'detections':<17} {'tracker':<9} {'lines':>5} {'zones':>5} {'errors':>7} {'right':>5} {'label':>5} "
          f"{'missed h/½/s':>12} {'extra':>5}")
    for r in replays:
        (lines, lp), (zones, zp), c = r.exact("line"), r.exact("zone"), r.causes()
        missed = f"{c['missed hidden']}/{c['missed half']}/{c['missed seen']}"
        errors = f"{r.errors('line')};{r.errors('zone')}"
        print(f"{r.detections:<17} {r.tracker:<9} {f'{lines}/{lp}':>5} {f'{zones}/{zp}':>5} "
              f"{errors:>7} {c['counted']:>5} {c['wrong label']:>5} {missed:>12} "
              f"{c['extra']:>5}")
    print("lines/zones: exact (sequence, line|zone) pairs; errors: |counted - true| summed (lines; zones);")
    print(f"missed h/½/s: under {HIDDEN} visible where it crossed / under {HALF} / seen")


def share(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "-"


def print_found(found: Found) -> None:
    print(f"\n{found.detections}: the true boxes it found (IoU >= {FOUND_IOU}), by visibility")
    print(f"{'visible':<11} {'boxes':>6} {'found':>6} {'right label':>11}")
    for b in found.bands:
        print(f"{f'{b.low:g}-{b.high:g}':<11} {b.boxes:>6} {share(b.found, b.boxes):>6} "
              f"{share(b.labelled, b.boxes):>11}")
    print(f"boxes left unpaired (no shape's, or a second one on a shape): {found.false_per_frame:.2f} per frame")


def print_events(replay_: Replay) -> None:
    print(f"\n{replay_.detections} + {replay_.tracker}: the events not counted right")
    for a in replay_.accounted:
        if a.outcome != "counted":
            e = a.event
            print(f"  {e.sequence} {e.kind} {e.name:<7} object {e.object_id:>3} {e.label:<8} {e.direction:<5} "
                  f"frame {e.frame:>3}: {a.cause:<13} visible {a.visibility:.2f}, tracks {list(a.tracks)}")
    for x in replay_.extras:
        print(f"  {x.sequence} {x.kind} {x.name:<7} track  {x.tracker_id:>3} {x.label:<8} {x.direction:<5} "
              f"frame {x.frame:>3}: extra")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="tracking sequences with analytics.json")
    parser.add_argument("--track", nargs="+", default=list(TRACKERS), choices=list(TRACKERS))
    parser.add_argument("--track-param", nargs="*", default=[], metavar="KEY=VALUE",
                        help="the trackers' parameters, as edgedet run's --track-param")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--count-after", type=int, default=CONFIRM_FRAMES)
    parser.add_argument("--oracle", type=float, nargs="*", default=[0.3, 0.2, 0.1, 0.0],
                        help="the oracle detector's minimum visibilities (none: no oracle rows)")
    parser.add_argument("--list", action="store_true", help="every event not counted right, per tracker")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    sequences = find_sequences(args.data)
    missing = [s.name for s in sequences if "lines" not in s.truth]
    if missing:
        raise SystemExit(f"{', '.join(missing)}: no analytics.json with true counts (edgedet data synth --task "
                         "tracking writes one)")
    rows_of = {seq.name: ground_truth(seq) for seq in sequences}
    sources = {"model": detections_of(args.model, sequences)}
    for v in args.oracle:
        sources[f"truth, vis >= {v:g}"] = {s.name: oracle_frames(s, rows_of[s.name], v) for s in sequences}
    params = parse_params(args.track_param)
    replays = [evaluate(name, frames, sequences, rows_of, TrackerSpec(tracker, params), args.conf, args.count_after)
               for name, frames in sources.items() for tracker in args.track]
    print_table(replays)
    found = found_by_visibility("model", sources["model"], rows_of, args.conf)
    print_found(found)
    if args.list:
        for r in replays:
            if r.detections == "model":
                print_events(r)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": str(args.model), "count_after": args.count_after,
                                               "track_params": params, "found": found.to_json(),
                                               "rows": [r.to_json(events=r.detections == "model") for r in replays]},
                                              indent=1))


if __name__ == "__main__":
    main()
