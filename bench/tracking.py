"""How fast the trackers are: milliseconds per ``update`` at 10, 100 and 500 boxes a frame, on one scene
of objects that move, cross and leave (the same detections for every tracker), repeated in interleaved
rounds so a noisy minute hits every tracker alike; the table gives the median of the rounds' p50s and
p90s and their spread.

    python bench/tracking.py                 # 10, 100, 500 boxes, 5 rounds of 300 frames
    python bench/tracking.py --boxes 100 --json tracking.json

(The comparison with Roboflow's ``trackers`` on the same detections, with HOTA and IDF1 on ground truth,
is the tracking issue's next step.)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from edgedet.runtime.detections import Detections
from edgedet.runtime.tracking import TRACKERS, make_tracker


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    rows = []
    for n in args.boxes:
        frames = scene(n, args.frames)
        runs: dict[str, list[np.ndarray]] = {name: [] for name in TRACKERS}
        for r in range(args.rounds):
            names = list(TRACKERS)
            for name in names[r % len(names):] + names[:r % len(names)]:  # the order rotates
                runs[name].append(time_one(name, frames))
        for name, samples in runs.items():
            p50 = [float(np.percentile(s, 50)) for s in samples]
            p90 = [float(np.percentile(s, 90)) for s in samples]
            rows.append({"tracker": name, "boxes": n, "p50_ms": float(np.median(p50)), "p90_ms": float(np.median(p90)),
                         "p50_spread": [min(p50), max(p50)]})
    print(f"{'tracker':<10} {'boxes':>5} {'p50 ms':>8} {'p90 ms':>8}  p50 spread over {args.rounds} rounds")
    for row in rows:
        lo, hi = row["p50_spread"]
        print(f"{row['tracker']:<10} {row['boxes']:>5} {row['p50_ms']:>8.3f} {row['p90_ms']:>8.3f}  {lo:.3f}-{hi:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
