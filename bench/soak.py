"""Soak: stream a looping video through the ONNX runtime for a while and watch resident memory.

    python bench/soak.py runs/demo/model.onnx runs/demo/val_video.avi --minutes 10

Prints RSS after warm-up and at the end (growth should stay under 10 MB), plus the latency
summary of the whole run.
"""

from __future__ import annotations

import argparse
import json
import time

from edgedet.runtime.engine import Stream, StreamOptions, run_engine
from edgedet.runtime.frames import Frame, now
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.sinks import JsonlSink
from edgedet.runtime.sources import Source, VideoFileSource


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class LoopingVideo(Source):
    """A video file read again and again: an endless, lossless source."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path, self.index = path, 0
        self.inner = VideoFileSource(path)
        self.description = f"looping {path}"

    @property
    def exhausted(self) -> bool:
        return False

    def read(self, timeout: float | None = None) -> Frame | None:
        frame = self.inner.read()
        if frame is None:
            self.inner.close()
            self.inner = VideoFileSource(self.path)
            frame = self.inner.read()
        self.frames_in += 1
        self.index += 1
        return Frame(self.index, frame.image, now())

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("video")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup-s", type=float, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jsonl", default="/dev/null")
    args = ap.parse_args()
    det = OnnxDetector(args.model, threads=args.threads)
    samples = []

    def on_status(s) -> None:
        samples.append((time.monotonic(), rss_mb(), s.frames))

    t0 = time.monotonic()
    sinks = [JsonlSink(args.jsonl)] if args.jsonl != "/dev/null" else []
    report = run_engine(det, [Stream("soak", LoopingVideo(args.video), sinks)],
                        StreamOptions(conf=0.25, duration_s=args.minutes * 60, status_every_s=5),
                        on_status=on_status).to_json()
    after_warmup = next((r for t, r, _ in samples if t - t0 >= args.warmup_s), samples[0][1])
    peak_after = max(r for t, r, _ in samples if t - t0 >= args.warmup_s)
    end = samples[-1][1]
    print(json.dumps({"minutes": args.minutes, "frames": report["frames_processed"], "fps": report["fps"],
                      "rss_after_warmup_mb": round(after_warmup, 1), "rss_end_mb": round(end, 1),
                      "rss_peak_after_warmup_mb": round(peak_after, 1),
                      "growth_mb": round(end - after_warmup, 2), "e2e_ms": report["e2e_ms"]}, indent=2))


if __name__ == "__main__":
    main()
