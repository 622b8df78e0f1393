"""Many sources, one model: the ready frames of up to ``batch`` sources go through one inference call.

DeepStream's stream muxer, in Python: every live source keeps its own capture thread and newest-frame
slot (``LiveSource``), files are read in order without loss. Each round the scheduler asks every
active source, starting one further along each time, for a frame *without waiting*, so a slow or
dead source (its slot empty, its stream reconnecting) never holds the others back; the frames it
got are letterboxed into one batch (padded with blank canvases for a fixed-batch file), inferred
once, and each result goes to its own source's sinks. A source that ends is closed and leaves the
rotation; the run ends when none is left, a limit is hit or a sink asks to stop.

The report keeps the single-stream report's aggregate keys and adds ``sources`` (one entry per
source: frames in / processed / dropped, fps, end-to-end and frame-age percentiles, its health) and
``batch_size`` statistics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgedet.runtime.detector import Detector
from edgedet.runtime.frames import Frame, now
from edgedet.runtime.host import host_info
from edgedet.runtime.pipeline import StreamOptions, StreamState
from edgedet.runtime.sinks import Sink, annotated_if_needed
from edgedet.runtime.sources import Source
from edgedet.runtime.stats import STAGES, LatencyRecorder, summarize

IDLE_WAIT_S = 0.002  # no source had a frame: look again this much later


@dataclass
class Stream:
    """One source with its own name (used in ``{source}`` paths and JSON Lines) and sinks."""

    name: str
    source: Source
    sinks: list[Sink] = field(default_factory=list)
    processed: int = 0
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    first: float | None = None
    last: float | None = None
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for sink in self.sinks:
                sink.close()
            self.source.close()


def gather(streams: Sequence[Stream], start: int, limit: int) -> list[tuple[Stream, Frame]]:
    """Up to ``limit`` frames, at most one per stream, asking each stream once, from ``start`` on."""
    ready = []
    for k in range(len(streams)):
        if len(ready) == limit:
            break
        stream = streams[(start + k) % len(streams)]
        frame = stream.source.read(timeout=0)
        if frame is not None:
            ready.append((stream, frame))
    return ready


def run_streams(detector: Detector, streams: Sequence[Stream], opts: StreamOptions, batch: int | None = None,
                state: StreamState | None = None, on_status: Callable[[dict], None] | None = None,
                shared_sinks: Sequence[Sink] = (), rec: LatencyRecorder | None = None,
                sizes: list[float] | None = None) -> dict:
    """Run every stream until all end, a limit is hit (``max_frames`` counts frames of all streams),
    a sink asks to stop or ``state.stop`` is set; every stream's sinks and source are always closed,
    then ``shared_sinks`` (a JSON Lines file or a preview that streams write through views).
    ``rec`` and ``sizes`` receive the raw stage timings and batch sizes when the caller wants them."""
    state = state or StreamState()
    limit = detector.fixed_batch or batch or len(streams)
    rec = rec if rec is not None else LatencyRecorder()
    sizes = sizes if sizes is not None else []
    active = list(streams)
    blank = np.full((*detector.canvas, 3), detector.fill, np.uint8)  # a fixed-batch file's padding
    turn, last_status = 0, now()
    try:
        while active and not state.stop.is_set():
            if opts.max_frames is not None and state.processed >= opts.max_frames:
                break
            if opts.duration_s is not None and now() - state.started >= opts.duration_s:
                break
            for stream in [s for s in active if s.source.exhausted]:
                stream.close()
                active.remove(stream)
            if not active:
                break
            t_read = now()
            ready = gather(active, turn, limit)
            turn += 1
            if not ready:
                time.sleep(IDLE_WAIT_S)
                continue
            t0 = now()
            rec.add("read", (t0 - t_read) * 1e3)
            images = [frame.image for _, frame in ready]
            padded = images + [blank] * ((detector.fixed_batch or len(images)) - len(images))
            data, scales = detector.preprocess(padded)
            t1 = now()
            outputs = detector.infer(data)
            t2 = now()
            results = detector.postprocess(outputs, scales, [im.shape[:2] for im in padded])[:len(images)]
            t3 = now()
            rec.add("preprocess", (t1 - t0) * 1e3)
            rec.add("inference", (t2 - t1) * 1e3)
            rec.add("postprocess", (t3 - t2) * 1e3)
            sizes.append(len(ready))
            for (stream, frame), dets in zip(ready, results):
                dets = dets.filter(opts.conf, opts.classes)
                e2e, age = (t3 - frame.captured) * 1e3, (t0 - frame.captured) * 1e3
                for recorder in (rec, stream.latency):
                    recorder.add("e2e", e2e)
                    recorder.add("frame_age", age)
                annotated = annotated_if_needed(stream.sinks, frame, dets)
                for sink in stream.sinks:
                    sink.write(frame, dets, annotated)
                stream.processed += 1
                stream.first = stream.first or t3
                stream.last = t3
                state.processed += 1
            rec.add("sink", (now() - t3) * 1e3)
            if any(sink.stop_requested for stream in active for sink in stream.sinks) or \
                    any(sink.stop_requested for sink in shared_sinks):
                break
            if on_status and t3 - last_status >= opts.status_every_s:
                last_status = t3
                on_status(status_of(state, streams, rec))
    finally:
        for stream in streams:
            stream.close()
        for sink in shared_sinks:
            sink.close()
    return build_multi_report(detector, streams, state, rec, sizes)


def status_of(state: StreamState, streams: Sequence[Stream], rec: LatencyRecorder) -> dict:
    elapsed = max(now() - state.started, 1e-9)
    return {"frames": state.processed, "fps": state.processed / elapsed, "e2e_ms": rec.last("e2e"),
            "inference_ms": rec.last("inference"), "dropped": sum(s.source.frames_dropped for s in streams),
            "outages": sum(s.source.outages for s in streams),
            "decode_errors": sum(s.source.decode_errors for s in streams)}


def stream_report(stream: Stream, elapsed: float) -> dict:
    src = stream.source
    return {"name": stream.name, "source": src.description, "live": src.live, "frames_in": src.frames_in,
            "frames_processed": stream.processed, "frames_dropped": src.frames_dropped,
            "fps": round(stream.processed / elapsed, 3), "e2e_ms": stream.latency.summary("e2e"),
            "frame_age_ms": stream.latency.summary("frame_age"), **src.health()}


def build_multi_report(detector: Detector, streams: Sequence[Stream], state: StreamState, rec: LatencyRecorder,
                       sizes: list[float]) -> dict:
    elapsed = max(now() - state.started, 1e-9)
    info = detector.describe()
    model = {"model": info.model, "architecture": info.architecture, "canvas": list(detector.canvas),
             "backend": info.backend, "provider": info.device, "precision": info.precision}
    return aggregate_report(model, [stream_report(s, elapsed) for s in streams], state.processed, elapsed, rec,
                            sizes)


def aggregate_report(model: dict, per_source: list[dict], processed: int, elapsed: float, rec: LatencyRecorder,
                     sizes: list[float]) -> dict:
    """The report of many sources from their entries: the single-stream report's aggregate keys
    (sums, all frames' percentiles) plus ``sources`` and ``batch_size``. Shared by the one-process
    run and the Ray driver, which gathers the entries from its workers."""
    elapsed = max(elapsed, 1e-9)
    total = {key: sum(s[key] for s in per_source) for key in ("frames_in", "frames_dropped", "decode_errors",
                                                             "outages", "unreadable")}
    return {
        **model,
        "source": ", ".join(s["name"] for s in per_source), "live": any(s["live"] for s in per_source),
        "frames_processed": processed, **total,
        "unreadable_files": [f for s in per_source for f in s["unreadable_files"]],
        "frames_expected": sum(s["frames_expected"] or 0 for s in per_source) or None,
        "ended_early": any(s["ended_early"] for s in per_source),
        "wall_s": round(elapsed, 3), "fps": round(processed / elapsed, 3),
        "e2e_ms": rec.summary("e2e"), "frame_age_ms": rec.summary("frame_age"),
        "stages_ms": {name: rec.summary(name) for name in STAGES},
        "batch_size": summarize(sizes), "sources": per_source,
        "host": host_info(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
