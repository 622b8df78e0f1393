"""The streaming loop: read -> pre-process -> infer -> post-process -> sinks, every stage timed.

End-to-end latency is measured from the frame's capture timestamp to the moment its result
is ready (before the sinks), and frame age from capture to the start of processing, so the
queueing a live source hides is visible in the numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edgedet.runtime.detections import Detections
from edgedet.runtime.detector import Detector
from edgedet.runtime.frames import now
from edgedet.runtime.host import host_info
from edgedet.runtime.sinks import Sink, annotated_if_needed
from edgedet.runtime.sources import Source
from edgedet.runtime.stats import STAGES, LatencyRecorder


@dataclass
class StreamOptions:
    conf: float = 0.25
    classes: Sequence[int | str] | None = None
    duration_s: float | None = None
    max_frames: int | None = None
    status_every_s: float = 0.5


@dataclass
class StreamState:
    processed: int = 0
    started: float = field(default_factory=now)
    stop: threading.Event = field(default_factory=threading.Event)


def _detect_timed(detector: Detector, image, rec: LatencyRecorder) -> Detections:
    """One frame through the three stages, each timed."""
    t0 = now()
    batch, scales = detector.preprocess([image])
    t1 = now()
    outputs = detector.infer(batch)
    t2 = now()
    dets = detector.postprocess(outputs, scales, [image.shape[:2]])[0]
    t3 = now()
    rec.add("preprocess", (t1 - t0) * 1e3)
    rec.add("inference", (t2 - t1) * 1e3)
    rec.add("postprocess", (t3 - t2) * 1e3)
    return dets


def run_stream(detector: Detector, source: Source, sinks: list[Sink], opts: StreamOptions,
               state: StreamState | None = None,
               on_status: Callable[[dict], None] | None = None) -> dict:
    """Run until the source ends, a limit is hit, a sink asks to stop or ``state.stop`` is set; the
    sinks and the source are always closed (the detector belongs to the caller)."""
    state = state or StreamState()
    rec = LatencyRecorder()
    last_status = now()
    try:
        while not state.stop.is_set():
            if opts.max_frames is not None and state.processed >= opts.max_frames:
                break
            if opts.duration_s is not None and now() - state.started >= opts.duration_s:
                break
            t_read = now()
            frame = source.read(timeout=0.5)
            if frame is None:
                if source.exhausted:
                    break
                continue
            t_start = now()
            rec.add("read", (t_start - t_read) * 1e3)
            rec.add("frame_age", (t_start - frame.captured) * 1e3)
            dets = _detect_timed(detector, frame.image, rec).filter(opts.conf, opts.classes)
            t_ready = now()
            rec.add("e2e", (t_ready - frame.captured) * 1e3)
            annotated = annotated_if_needed(sinks, frame, dets)
            for sink in sinks:
                sink.write(frame, dets, annotated)
            rec.add("sink", (now() - t_ready) * 1e3)
            state.processed += 1
            if any(sink.stop_requested for sink in sinks):
                break
            if on_status and t_ready - last_status >= opts.status_every_s:
                last_status = t_ready
                on_status(status_line(state, source, rec))
    finally:
        for sink in sinks:
            sink.close()
        source.close()
    return build_report(detector, source, state, rec)


def status_line(state: StreamState, source: Source, rec: LatencyRecorder) -> dict:
    elapsed = max(now() - state.started, 1e-9)
    return {"frames": state.processed, "fps": state.processed / elapsed, "e2e_ms": rec.last("e2e"),
            "inference_ms": rec.last("inference"), "dropped": source.frames_dropped, "outages": source.outages,
            "decode_errors": source.decode_errors}


def build_report(detector: Detector, source: Source, state: StreamState, rec: LatencyRecorder) -> dict:
    elapsed = max(now() - state.started, 1e-9)
    info = detector.describe()
    return {
        "model": info.model,
        "architecture": info.architecture,
        "canvas": list(detector.canvas),
        "backend": info.backend,
        "provider": info.device,
        "precision": info.precision,
        "source": source.description,
        "live": source.live,
        "frames_in": source.frames_in,
        "frames_processed": state.processed,
        "frames_dropped": source.frames_dropped,
        **source.health(),
        "wall_s": round(elapsed, 3),
        "fps": round(state.processed / elapsed, 3),
        "e2e_ms": rec.summary("e2e"),
        "frame_age_ms": rec.summary("frame_age"),
        "stages_ms": {name: rec.summary(name) for name in STAGES},
        "host": host_info(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
