"""Our trackers against Roboflow's ``trackers`` (SORT, ByteTrack, OC-SORT), and what ``--detect-every``
costs.

``speed``: milliseconds per ``update`` at 10, 100 and 500 boxes a frame, on one scene of objects that move,
cross and leave (the same detections for every tracker), repeated in interleaved rounds so a noisy minute
hits every tracker alike; the table gives the median of the rounds' p50s and p90s and their spread. With
``--peer``, the peer's same-named trackers run on the same frames in each round, in the peer's own
environment (it needs the opencv-python wheel; made once, on first use, beside TrackEval's).

``accuracy``: a model's detections on tracking sequences (``edgedet data synth OUT --task tracking``) are
made once; each of our trackers and the peer's same-named one track the *same* detections (those a run
with ``--conf 0.25`` gives that tracker: ByteTrack's low pass sees down to 0.1), class-agnostic as the
peer's are; TrackEval scores them all in one call.

``every``: ``edgedet eval-tracks`` with ``--detect-every N`` for each N: frames per second of the whole
engine on the files and HOTA/IDF1 beside N = 1.

    python bench/tracking.py speed --peer                  # 10, 100, 500 boxes, 5 rounds of 300 frames
    python bench/tracking.py accuracy --model runs/demo/model.onnx --data data/tracks
    python bench/tracking.py every --model runs/demo/model.onnx --data data/tracks --n 1 2 3 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from edgedet.evaluation.mot_metrics import TRACKEVAL, environment, mot_metrics
from edgedet.runtime.detections import Detections
from edgedet.runtime.tracking import TRACKERS, make_tracker

PEER = "trackers==2.6.1"
PEER_RUNNER = Path(__file__).with_name("peer_trackers.py")
FRAME_RATE = 25.0  # the synthetic sequences' (the peer scales its lost-track buffer by it)


def scene(boxes: int, frames: int, seed: int = 0) -> list[Detections]:
    """``boxes`` objects on a 1920 x 1080 frame, each moving at its own velocity (wrapping round), sized
    20-80 px, with 1 px of box noise and scores spread over 0.3-1, a tenth missed in any frame."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 1, (boxes, 2)) * (1840, 1000)
    vel = rng.uniform(-4, 4, (boxes, 2))
    size = rng.uniform(20, 80, (boxes, 2))
    labels = rng.integers(1, 4, boxes)
    out = []
    for f in range(frames):
        p = (pos + vel * f) % (1840, 1000)
        b = np.concatenate([p, p + size], axis=1) + rng.normal(0, 1, (boxes, 4))
        seen = rng.uniform(size=boxes) > 0.1
        out.append(Detections(b[seen], rng.uniform(0.3, 1.0, boxes)[seen], labels[seen], ("bg", "a", "b", "c")))
    return out


def time_one(name: str, frames: list[Detections]) -> np.ndarray:
    tracker = make_tracker(name)
    ms = []
    for dets in frames:
        t0 = time.perf_counter()
        tracker.update(dets)
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(ms[10:])  # past the first frames, where every track is new


def save_groups(path: Path, groups: dict[str, list[Detections]]) -> None:
    """Frames of detections as flat arrays per group (``tracker/sequence``), for the peer's runner."""
    arrays = {}
    for group, frames in groups.items():
        arrays[f"{group}:frame"] = np.concatenate([np.full(len(d), f) for f, d in enumerate(frames)] or [[]])
        arrays[f"{group}:boxes"] = np.concatenate([d.boxes for d in frames]).reshape(-1, 4)
        arrays[f"{group}:scores"] = np.concatenate([d.scores for d in frames])
        arrays[f"{group}:labels"] = np.concatenate([d.labels for d in frames])
        arrays[f"{group}:count"] = np.array(len(frames))
    np.savez(path, **arrays)


def run_peer(groups: dict[str, list[Detections]], mode: str) -> dict:
    python = environment("peer-trackers", [PEER])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dets.npz"
        save_groups(path, groups)
        done = subprocess.run([str(python), str(PEER_RUNNER), str(path), mode, str(FRAME_RATE)], capture_output=True,
                              text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"the peer's trackers failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def speed(args) -> None:
    rows = []
    for n in args.boxes:
        frames = scene(n, args.frames)
        runs: dict[tuple[str, str], list[np.ndarray]] = {}
        for r in range(args.rounds):
            names = list(TRACKERS)
            for name in names[r % len(names):] + names[:r % len(names)]:  # the order rotates
                runs.setdefault(("edgedet", name), []).append(time_one(name, frames))
            if args.peer:
                for name, per_seq in run_peer({f"{name}/scene": frames for name in TRACKERS}, "timing").items():
                    runs.setdefault(("trackers", name), []).append(np.asarray(per_seq["scene"][10:]))
        for (impl, name), samples in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            p50 = [float(np.percentile(x, 50)) for x in samples]
            p90 = [float(np.percentile(x, 90)) for x in samples]
            rows.append({"tracker": name, "impl": impl, "boxes": n, "p50_ms": float(np.median(p50)),
                         "p90_ms": float(np.median(p90)), "p50_spread": [min(p50), max(p50)]})
    print(f"{'tracker':<10} {'impl':<9} {'boxes':>5} {'p50 ms':>8} {'p90 ms':>8}  p50 spread, {args.rounds} rounds")
    for row in rows:
        lo, hi = row["p50_spread"]
        print(f"{row['tracker']:<10} {row['impl']:<9} {row['boxes']:>5} {row['p50_ms']:>8.3f} {row['p90_ms']:>8.3f}"
              f"  {lo:.3f}-{hi:.3f}")
    if args.peer:
        for n in args.boxes:
            for name in TRACKERS:
                mine, theirs = (next(r["p50_ms"] for r in rows if (r["tracker"], r["impl"], r["boxes"]) == (name, i, n))
                                for i in ("edgedet", "trackers"))
                print(f"{name} at {n} boxes: ours {theirs / mine:.1f}x the peer's speed")
    dump(args.json, rows)


def detections_of(model: Path, sequences) -> dict[str, list[Detections]]:
    """Every frame's detections of each sequence (score >= 0.1, one object's two labels merged as the
    engine does before tracking, at its IoU)."""
    from edgedet.runtime.engine import Stream, StreamOptions, run_engine
    from edgedet.runtime.loader import load_detector
    from edgedet.runtime.sinks import Sink
    from edgedet.runtime.sources import open_source

    class Keep(Sink):
        needs_pixels = False

        def __init__(self) -> None:
            self.frames: list[Detections] = []

        def write(self, frame, detections, annotated) -> None:
            self.frames.append(detections.suppress_overlaps(StreamOptions().merge_iou))

    out = {}
    with load_detector(model) as detector:
        for seq in sequences:
            keep = Keep()
            run_engine(detector, [Stream(seq.name, open_source(seq.source), [keep])], StreamOptions(conf=0.1))
            out[seq.name] = keep.frames
    return out


def accuracy(args) -> None:
    from edgedet.evaluation.tracking_eval import find_sequences, mot_rows

    sequences = find_sequences(args.data)
    dets = detections_of(args.model, sequences)
    inputs: dict[str, dict[str, list[Detections]]] = {}  # tracker -> sequence -> frames
    results: dict[str, dict[str, list]] = {}
    for name in TRACKERS:
        floor = make_tracker(name).score_floor(args.conf)
        inputs[name] = {seq: [d.filter(floor) for d in frames] for seq, frames in dets.items()}
        ours = {}
        for seq, frames in inputs[name].items():
            tracker = make_tracker(name, class_agnostic=True)
            ours[seq] = [row for f, d in enumerate(frames) for row in mot_rows(f, tracker.update(d))]
        results[f"edgedet-{name}"] = ours
    peer = run_peer({f"{name}/{seq}": frames for name, per in inputs.items() for seq, frames in per.items()}, "rows")
    for name, per_seq in peer.items():
        results[f"trackers-{name}"] = {seq: [tuple(r) for r in rows] for seq, rows in per_seq.items()}
    metrics = mot_metrics({s.name: s.gt for s in sequences}, {s.name: s.frames for s in sequences}, results,
                          environment("trackeval", [TRACKEVAL]))
    print(f"{len(sequences)} sequences, {sum(s.frames for s in sequences)} frames, detections of {args.model}")
    print(f"{'tracker':<10} {'impl':<9} {'HOTA':>6} {'IDF1':>6} {'MOTA':>7} {'IDsw':>5} {'Frag':>5}")
    rows = []
    for name in TRACKERS:
        for impl in ("edgedet", "trackers"):
            m = metrics[f"{impl}-{name}"]["COMBINED_SEQ"]
            rows.append({"tracker": name, "impl": impl, **m.to_json()})
            print(f"{name:<10} {impl:<9} {m.hota:>6.3f} {m.idf1:>6.3f} {m.mota:>7.3f} {m.id_switches:>5} "
                  f"{m.fragmentations:>5}")
    dump(args.json, rows)


def every(args) -> None:
    from edgedet.evaluation.tracking_eval import evaluate_tracking, find_sequences
    from edgedet.runtime.engine import StreamOptions
    from edgedet.runtime.loader import load_detector
    from edgedet.runtime.tracking import TrackerSpec

    sequences = find_sequences(args.data)
    env = environment("trackeval", [TRACKEVAL])
    rows = []
    with load_detector(args.model, spin=False) as detector:
        for _ in range(args.rounds):
            for n in args.n:
                result = evaluate_tracking(detector, sequences, TrackerSpec(args.tracker, {}), args.conf,
                                           StreamOptions(detect_every=n), env)
                m = result.metrics["COMBINED_SEQ"]
                rows.append({"detect_every": n, "fps": result.fps, "hota": m.hota, "idf1": m.idf1, "mota": m.mota})
    print(f"{args.tracker} on {len(sequences)} sequences; median over {args.rounds} interleaved rounds")
    print(f"{'N':>3} {'fps':>7} {'x N=1':>6} {'HOTA':>6} {'IDF1':>6} {'MOTA':>7}")
    base = float(np.median([r["fps"] for r in rows if r["detect_every"] == args.n[0]]))
    for n in args.n:
        mine = [r for r in rows if r["detect_every"] == n]
        fps = float(np.median([r["fps"] for r in mine]))
        print(f"{n:>3} {fps:>7.1f} {fps / base:>5.2f}x {mine[0]['hota']:>6.3f} {mine[0]['idf1']:>6.3f} "
              f"{mine[0]['mota']:>7.3f}")
    dump(args.json, rows)


def dump(path: str | None, rows: list[dict]) -> None:
    if path:
        with open(path, "w") as fh:
            json.dump(rows, fh, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("speed", help="ms per update at N boxes")
    p.add_argument("--boxes", type=int, nargs="+", default=[10, 100, 500])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--peer", action="store_true", help="Roboflow's trackers on the same frames, each round")
    for name in ("accuracy", "every"):
        q = sub.add_parser(name)
        q.add_argument("--model", type=Path, required=True)
        q.add_argument("--data", type=Path, required=True)
        q.add_argument("--conf", type=float, default=0.25)
    sub.choices["every"].add_argument("--n", type=int, nargs="+", default=[1, 2, 3, 5])
    sub.choices["every"].add_argument("--tracker", default="bytetrack")
    sub.choices["every"].add_argument("--rounds", type=int, default=3)
    for q in sub.choices.values():
        q.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    {"speed": speed, "accuracy": accuracy, "every": every}[args.what](args)


if __name__ == "__main__":
    main()
