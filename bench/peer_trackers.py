"""Run by the peer environment's Python (Roboflow's ``trackers``, which needs the opencv-python wheel, so it
never shares edgedet's environment): its SORT, ByteTrack and OC-SORT on the detections in an ``.npz`` that
``bench/tracking.py`` wrote, printing one JSON object: each tracker's MOTChallenge rows per sequence
(``rows``) or its milliseconds per update (``timing``). Imports trackers, supervision and numpy only.

    python peer_trackers.py DETECTIONS.npz rows|timing FRAME_RATE
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker, OCSORTTracker, SORTTracker

PEERS = {"sort": SORTTracker, "bytetrack": ByteTrackTracker, "ocsort": OCSORTTracker}


def frames_of(data, prefix: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    index, boxes = data[f"{prefix}:frame"], data[f"{prefix}:boxes"]
    scores, labels, count = data[f"{prefix}:scores"], data[f"{prefix}:labels"], int(data[f"{prefix}:count"])
    return [(boxes[index == f], scores[index == f], labels[index == f]) for f in range(count)]


def main(path: str, mode: str, frame_rate: float) -> None:
    data = np.load(path)
    groups = sorted({key.split(":")[0] for key in data.files})  # "<tracker>/<sequence>"
    out: dict = {}
    for group in groups:
        name, seq = group.split("/", 1)
        tracker = PEERS[name](frame_rate=frame_rate)
        rows, ms = [], []
        for f, (boxes, scores, labels) in enumerate(frames_of(data, group)):
            dets = sv.Detections(xyxy=boxes.astype(np.float32), confidence=scores.astype(np.float32),
                                 class_id=labels.astype(int))
            t0 = time.perf_counter()
            tracked = tracker.update(dets)
            ms.append((time.perf_counter() - t0) * 1e3)
            for (x1, y1, x2, y2), score, tid in zip(tracked.xyxy.tolist(), tracked.confidence.tolist(),
                                                    tracked.tracker_id.tolist()):
                if tid >= 0:  # -1: a track not yet confirmed
                    rows.append([f + 1, int(tid) + 1, x1, y1, x2 - x1, y2 - y1, score])
        out.setdefault(name, {})[seq] = rows if mode == "rows" else ms
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
