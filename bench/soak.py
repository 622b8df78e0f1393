"""Soak: stream a looping video, or a real RTSP camera that keeps going away, through the ONNX runtime for
a while and watch resident memory.

    python bench/soak.py runs/demo/model.onnx runs/demo/val_video.avi --minutes 10
    python bench/soak.py runs/demo/model.onnx --rtsp --minutes 30 --restart-every-s 60

Prints RSS after warm-up and at the end (growth should stay under 10 MB), plus the latency
summary of the whole run. ``--rtsp`` serves a moving H.264 pattern from GStreamer's RTSP server on
loopback (tests/runtime/rtsp_server.py, Debian's gir1.2-gst-rtsp-server-1.0) and kills and restarts it
every ``--restart-every-s``: every outage closes the capture and opens a new one, the path a camera
service walks for months. ``--curve FILE`` writes every sample (seconds, RSS MB, frames, outages).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from edgedet.runtime.engine import Stream, StreamOptions, run_engine
from edgedet.runtime.frames import Frame, now
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.sinks import JsonlSink
from edgedet.runtime.sources import LiveOptions, Source, VideoFileSource, open_source

ROOT = Path(__file__).resolve().parents[1]


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


class Restarter:
    """Kills the RTSP server and starts it again every ``every_s`` seconds, on its own thread."""

    def __init__(self, server, every_s: float) -> None:
        self.server, self.every_s, self.restarts = server, every_s, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.server.restart(pause_s=1.0)
            self.restarts += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("video", nargs="?", help="a video file to loop (not with --rtsp)")
    ap.add_argument("--rtsp", action="store_true", help="a real RTSP server on loopback, restarted again and again")
    ap.add_argument("--restart-every-s", type=float, default=60)
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup-s", type=float, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jsonl", default="/dev/null")
    ap.add_argument("--curve", help="write every RSS sample here (JSON)")
    ap.add_argument("--json", type=Path, help="write the result here too (bench/report.py reads it)")
    args = ap.parse_args()
    if bool(args.rtsp) == bool(args.video):
        ap.error("give a video file or --rtsp")
    det = OnnxDetector(args.model, threads=args.threads)
    samples = []
    server = restarter = None
    if args.rtsp:
        sys.path.insert(0, str(ROOT))  # the test suite's RTSP server
        from tests.runtime.rtsp_server import RtspServer

        server = RtspServer(None, args.codec, "640x480").start()
        source: Source = open_source(server.url, LiveOptions(rtsp_transport="tcp"), "soak")
        restarter = Restarter(server, args.restart_every_s)
        restarter.thread.start()
    else:
        source = LoopingVideo(args.video)

    def on_status(s) -> None:
        samples.append((time.monotonic(), rss_mb(), s.frames, s.outages))

    t0 = time.monotonic()
    sinks = [JsonlSink(args.jsonl)] if args.jsonl != "/dev/null" else []
    try:
        report = run_engine(det, [Stream("soak", source, sinks)],
                            StreamOptions(conf=0.25, duration_s=args.minutes * 60, status_every_s=5),
                            on_status=on_status).to_json()
    finally:
        if restarter is not None:
            restarter.stop.set()
            restarter.thread.join()
            server.stop()
    after_warmup = next((r for t, r, *_ in samples if t - t0 >= args.warmup_s), samples[0][1])
    peak_after = max(r for t, r, *_ in samples if t - t0 >= args.warmup_s)
    end = samples[-1][1]
    per_minute = {}
    for t, r, *_ in samples:
        per_minute.setdefault(int((t - t0) // 60), r)  # the first sample of each minute
    result = {"minutes": args.minutes, "mode": "rtsp" if args.rtsp else "video", "frames": report["frames_processed"],
              "fps": report["fps"], "outages": report["outages"], "restarts": restarter.restarts if restarter else 0,
              "clock": report["sources"][0]["clock"], "rss_after_warmup_mb": round(after_warmup, 1),
              "rss_end_mb": round(end, 1), "rss_peak_after_warmup_mb": round(peak_after, 1),
              "growth_mb": round(end - after_warmup, 2), "rss_mb_by_minute": {m: round(r, 1) for m, r in
                                                                                per_minute.items()},
              "e2e_ms": report["e2e_ms"]}
    if args.curve:
        Path(args.curve).write_text(json.dumps([{"s": round(t - t0, 1), "rss_mb": round(r, 2), "frames": f,
                                                  "outages": o} for t, r, f, o in samples]))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
