"""The one stream engine: every run — one camera, many, or a group on a Ray worker — is this loop over a list
of streams (a single source is a list of one).

    capture/decode (a thread per source: live ones keep the newest frame, files decode ahead, in order)
      -> batch (the ready frames of up to B streams, never waiting for a slow one)
      -> pre-process + inference (this thread, one call per batch; or ``parallel`` inference threads, each
         with a batch of its own, for a backend whose model can run several calls at once)
      -> post-process -> filter -> sinks (the output thread, behind a small bounded queue)

DeepStream's stream muxer, in Python. Each round the engine asks every active stream, starting one further
along each time, for a frame: a live one *without waiting*, so a slow or dead camera (its slot empty, its
stream reconnecting) never holds the others back; a file's next frame, which its read-ahead thread
(``ReadAhead``) has usually decoded already, is waited for, since a file is lossless and its batches stay
the ones a sequential read makes; the frames it got are letterboxed into one batch (padded with
blank canvases for a fixed-batch file) and inferred once. The outputs go to the output thread, which
post-processes them and writes each result to its own stream's sinks in order, so drawing and video
encoding of one batch overlap the inference of the next. The queue between the two holds at most
``QUEUE_DEPTH`` batches: when the sinks are slower than inference the engine waits, and that wait is
reported (``queue_wait_ms``: back-pressure) rather than hidden in a growing queue.

With ``StreamOptions.parallel`` = K > 1 (ONNX Runtime, OpenVINO) the engine hands each batch to one of K
inference threads and goes on gathering; the output thread takes the results in the order the batches
were formed, so every stream's frames are still written in order. On a CPU, K batches of one-thread
inference on K cores are what K separate processes do, with one model in memory and one report.

End-to-end latency runs from each frame's capture time to its result being ready (before the sinks), frame
age from capture to the start of its batch. A stream that ends is closed and leaves the rotation; the run
ends when none is left, a limit is hit, a sink asks to stop or ``state.stop`` is set (Ctrl-C/SIGTERM): the
batches already inferred are still written, then every sink and source is closed. A service's engine
takes a ``Roster``: streams join and leave between batches while the others go on, and it runs until
stopped even with none.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from edgedet.runtime.analytics import CONFIRM_FRAMES, Analytics, LineSpec, ZoneSpec
from edgedet.runtime.captures import ARRIVAL
from edgedet.runtime.detections import Detections
from edgedet.runtime.detector import Detector
from edgedet.runtime.frames import Frame, now
from edgedet.runtime.read_ahead import ReadAhead
from edgedet.runtime.report import (
    LatencySummary,
    ModelInfo,
    RunReport,
    SourceHealth,
    SourceReport,
    StatusUpdate,
    TrackSummary,
    stage_summaries,
)
from edgedet.runtime.roster import Roster
from edgedet.runtime.sinks import Sink, write_to_sinks
from edgedet.runtime.sources import LiveOptions, Source
from edgedet.runtime.stats import BATCH_SIZE, LatencyRecorder
from edgedet.runtime.tracking import Tracker, TrackerSpec
from edgedet.runtime.trails import Trails

IDLE_WAIT_S = 0.002  # no source had a frame: look again this much later
EMPTY_WAIT_S = 0.05  # a service's engine with no stream: how often it looks for one joining
QUEUE_DEPTH = 2  # inferred batches waiting for the output thread


@dataclass
class StreamOptions:
    conf: float = 0.25
    classes: Sequence[int | str] | None = None
    duration_s: float | None = None
    max_frames: int | None = None  # counts the frames of all streams
    status_every_s: float = 0.5
    parallel: int = 1  # batches inferred at once, each on its own thread (a backend that allows it)
    track: TrackerSpec | None = None  # every stream's own tracker, made from this
    lines: tuple[LineSpec, ...] = ()  # counting lines (of every stream, or of the one they name)
    zones: tuple[ZoneSpec, ...] = ()  # zones, likewise
    count_after: int = CONFIRM_FRAMES  # frames on a line's or zone's new side before a change counts
    detect_every: int = 1  # with a tracker: detect on one frame of a stream in N, its tracks carry the others
    # with a tracker: detections of any labels overlapping by more than this IoU are one object (the
    # highest-scoring kept), so a per-class detector's two labels for one object do not become two tracks
    merge_iou: float | None = 0.7
    live: LiveOptions = LiveOptions()  # how live sources reconnect and carry RTSP (read where they open)


@dataclass
class StreamState:
    processed: int = 0
    started: float = field(default_factory=now)
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class Stream:
    """One source with its own name (used in ``{source}`` paths and JSON Lines), sinks and, when the run
    tracks objects, its own tracker (a stream's ids are its own) and line and zone analytics."""

    name: str
    source: Source
    sinks: list[Sink] = field(default_factory=list)
    tracker: Tracker | None = None
    trails: Trails = field(default_factory=Trails)  # its tracks' recent paths, for drawing
    analytics: Analytics | None = None
    processed: int = 0
    gathered: int = 0  # frames taken from the source (``detect_every`` counts them)
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    conf: float | None = None  # its own minimum score (a service's stream), else the run's
    started: float = field(default_factory=now)  # when it was made (a service's stream joins late)
    closed: bool = False
    tracks: TrackSummary | None = None  # set when a tracked stream closes
    # set once ``close`` has finished (tracks summed up, sinks and source closed): a service that removes a
    # stream waits for it before reporting, since the engine closes a leaving stream between its batches
    ended: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.tracker is not None:  # every track ends with its stream
                lives = self.tracker.finish()
                self.tracks = TrackSummary.of(self.tracker.name, lives.started, lives.lengths)
            for sink in self.sinks:
                sink.close()
            self.source.close()
            self.ended.set()

    def report(self, elapsed: float) -> SourceReport:
        src = self.source
        return SourceReport(self.name, src.description, src.live, src.frames_in, self.processed, src.frames_dropped,
                            round(self.processed / max(elapsed, 1e-9), 3),
                            LatencySummary.from_recorder(self.latency, "e2e"),
                            LatencySummary.from_recorder(self.latency, "frame_age"), SourceHealth.of(src),
                            tracks=self.tracks, analytics=self.analytics and self.analytics.totals(),
                            clock=src.clock, e2e_arrival_ms=arrival_e2e(src.clock, self.latency))


def arrival_e2e(clock: str, rec: LatencyRecorder) -> LatencySummary | None:
    """e2e from each frame's arrival, where e2e itself is timed by a camera's clock (the two differ by the
    network and decode delay); None where the source's clock is arrival (it would repeat e2e)."""
    return LatencySummary.from_recorder(rec, "e2e_arrival") if clock != ARRIVAL and rec.count("e2e_arrival") else None


def gather(streams: Sequence[Stream], start: int, limit: int) -> list[tuple[Stream, Frame]]:
    """Up to ``limit`` frames, at most one per stream, asking each stream once, from ``start`` on (a live
    stream gives what it has now, a file its next frame)."""
    ready = []
    for k in range(len(streams)):
        if len(ready) == limit:
            break
        stream = streams[(start + k) % len(streams)]
        frame = stream.source.read(timeout=0 if stream.source.live else None)
        if frame is not None:
            ready.append((stream, frame))
    return ready


@dataclass
class _Inferred:
    ready: list[tuple[Stream, Frame]]
    result: Future | tuple | None  # (outputs, scales), or the inference thread's future of them; None: frames
    shapes: list[tuple[int, int]]  # the detector skips (``detect_every``), whose trackers carry the boxes
    started: float


@dataclass
class _Leave:
    """In the output queue after a leaving stream's last batch: close it there."""

    stream: Stream


def _preprocess_and_infer(detector: Detector, images: list[np.ndarray], rec: LatencyRecorder,
                          fresh: bool) -> tuple:
    t0 = now()
    data, scales = detector.preprocess(images, fresh=fresh)
    t1 = now()
    outputs = detector.infer(data)
    rec.add("preprocess", (t1 - t0) * 1e3)
    rec.add("inference", (now() - t1) * 1e3)
    return outputs, scales


class _Output:
    """The output thread: post-process, filter, time, write to the sinks, in batch order."""

    def __init__(self, detector: Detector, opts: StreamOptions, state: StreamState, rec: LatencyRecorder,
                 shared_sinks: Sequence[Sink], parallel: int = 1) -> None:
        self.detector, self.opts, self.state, self.rec, self.shared = detector, opts, state, rec, shared_sinks
        self.queue: queue.Queue[_Inferred | _Leave | None] = queue.Queue(maxsize=QUEUE_DEPTH + parallel - 1)
        self.stop_requested = threading.Event()
        self.error: BaseException | None = None
        self.closers: list[threading.Thread] = []  # streams that left, closing (a camera takes a moment)
        self.thread = threading.Thread(target=self._run, name="edgedet-output", daemon=True)
        self.thread.start()

    def join_closers(self) -> None:
        for closer in self.closers:
            closer.join(timeout=15)

    def put(self, item: _Inferred | _Leave) -> None:
        t = now()
        while self.thread.is_alive():
            try:
                self.queue.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        self.rec.add("queue_wait", (now() - t) * 1e3)

    def finish(self) -> None:
        """Write what is queued, then end the thread; a failure in it is raised here."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                if isinstance(item, _Leave):  # its frames before this are written: close it, off this thread
                    closer = threading.Thread(target=item.stream.close, name="edgedet-leave", daemon=True)
                    closer.start()
                    self.closers.append(closer)
                    continue
                self._write(item)
        except BaseException as exc:  # raised again in the engine's thread
            self.error = exc
            self.stop_requested.set()

    def _write(self, item: _Inferred) -> None:
        if item.result is None:
            t_ready, padded = now(), [None] * len(item.ready)
        else:
            outputs, scales = item.result.result() if isinstance(item.result, Future) else item.result
            t0 = now()
            padded = self.detector.postprocess(outputs, scales, item.shapes)
            t_ready = now()
            self.rec.add("postprocess", (t_ready - t0) * 1e3)
        for (stream, frame), dets in zip(item.ready, padded):
            dets = self._kept(stream, dets)
            e2e, age = (t_ready - frame.captured) * 1e3, (item.started - frame.captured) * 1e3
            for recorder in (self.rec, stream.latency):
                recorder.add("e2e", e2e)
                recorder.add("frame_age", age)
            if frame.arrived is not None:  # a live frame: e2e by arrival too (less than by a camera's clock)
                stream.latency.add("e2e_arrival", (t_ready - frame.arrived) * 1e3)
            write_to_sinks(stream.sinks, frame, dets, stream.trails, stream.analytics)
            stream.processed += 1
            self.state.processed += 1
            if any(sink.stop_requested for sink in stream.sinks):
                self.stop_requested.set()
        self.rec.add("sink", (now() - t_ready) * 1e3)
        if any(sink.stop_requested for sink in self.shared):
            self.stop_requested.set()


    def _kept(self, stream: Stream, dets: Detections | None) -> Detections:
        """A frame's detections as the sinks get them: those over the threshold (a tracker's own floor) and
        of the wanted classes; with a tracker, its output (one object's two labels merged first), or on a
        frame the detector skipped (``dets`` None) its tracks carried on."""
        tracker, conf = stream.tracker, self.opts.conf if stream.conf is None else stream.conf
        if tracker is None:
            return dets.filter(conf, self.opts.classes)
        t_track = now()
        if dets is None:
            out = tracker.coast()
        else:
            out = track_frame(tracker, dets, conf, self.opts.classes, self.opts.merge_iou)
        self.rec.add("track", (now() - t_track) * 1e3)
        return out


def track_frame(tracker: Tracker, dets: Detections, conf: float, classes: Sequence[int | str] | None = None,
                merge_iou: float | None = StreamOptions.merge_iou) -> Detections:
    """One detected frame through a stream's tracker as the engine feeds it: the detections over the
    tracker's own floor for the run's threshold ``conf`` and of the wanted classes, one object's two labels
    merged (``merge_iou``), then ``tracker.update``. Public so a replay of stored detections
    (bench/counting.py) tracks exactly what a run would."""
    dets = dets.filter(tracker.score_floor(conf), classes)
    return tracker.update(dets if merge_iou is None else dets.suppress_overlaps(merge_iou))


def _detected(ready: list[tuple[Stream, Frame]], every: int) -> tuple[list, list]:
    """The gathered frames split into those the detector sees (each stream's first and every ``every``-th
    after) and those its tracker carries."""
    seen, coasted = [], []
    for stream, frame in ready:
        (seen if stream.gathered % every == 0 or stream.tracker is None else coasted).append((stream, frame))
        stream.gathered += 1
    return seen, coasted


def warm_up(detector: Detector, parallel: int = 1) -> None:
    """One blank batch through each of the ``parallel`` inference threads, before any source opens: a
    backend's first call allocates and compiles (an OpenVINO request is made per thread on first use), and
    on a live camera the frames that arrive meanwhile would be dropped."""
    parallel = max(1, parallel) if detector.concurrent else 1
    blank = [np.full((*detector.canvas, 3), detector.fill, np.uint8)] * (detector.fixed_batch or 1)

    def once() -> None:
        detector.infer(detector.preprocess(blank, fresh=parallel > 1)[0])

    if parallel == 1:
        once()
        return
    with ThreadPoolExecutor(parallel) as pool:
        for future in [pool.submit(once) for _ in range(parallel)]:
            future.result()


def run_engine(detector: Detector, streams: Sequence[Stream], opts: StreamOptions, batch: int | None = None,
               state: StreamState | None = None, on_status: Callable[[StatusUpdate], None] | None = None,
               shared_sinks: Sequence[Sink] = (), rec: LatencyRecorder | None = None,
               roster: Roster | None = None) -> RunReport:
    """Run every stream until all end, a limit is hit, a sink asks to stop or ``state.stop`` is set; every
    stream's sinks and source are always closed, then ``shared_sinks`` (a JSON Lines file or a preview that
    streams write through views). ``rec`` receives the raw stage timings and batch sizes when the caller
    wants them (a Ray worker ships them to the driver). With a ``roster`` streams join and leave while the
    engine runs (``roster.Roster``), and it runs, idle if need be, until ``state.stop``."""
    state = state or StreamState()
    for stream in streams:
        _prepare(stream, opts)
    rec = rec if rec is not None else LatencyRecorder()
    active, everyone = list(streams), list(streams)  # those running; all this run has had (its report's)
    blank = np.full((*detector.canvas, 3), detector.fill, np.uint8)  # a fixed-batch file's padding
    turn, last_status, submitted = 0, now(), 0
    parallel = max(1, opts.parallel) if detector.concurrent else 1
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="edgedet-infer") if parallel > 1 else None
    output = _Output(detector, opts, state, rec, shared_sinks, parallel)
    try:
        while (active or roster is not None) and not state.stop.is_set() and not output.stop_requested.is_set():
            if opts.max_frames is not None and submitted >= opts.max_frames:
                break
            if opts.duration_s is not None and now() - state.started >= opts.duration_s:
                break
            if roster is not None:
                _change(roster, opts, active, everyone, output)
            for stream in [s for s in active if s.source.exhausted]:
                active.remove(stream)
                if roster is not None:  # a service's file that ended: its video committed now, not at the end
                    output.put(_Leave(stream))
            if not active:
                if roster is None:
                    break
                time.sleep(EMPTY_WAIT_S)
                continue
            limit = detector.fixed_batch or batch or len(active)
            t_read = now()
            room = limit if opts.max_frames is None else min(limit, opts.max_frames - submitted)
            ready = gather(active, turn, room)
            turn += 1
            if not ready:
                time.sleep(IDLE_WAIT_S)
                continue
            t0 = now()
            rec.add("read", (t0 - t_read) * 1e3)
            if opts.detect_every > 1:  # the frames whose trackers carry their boxes skip the detector
                ready, coasted = _detected(ready, opts.detect_every)
                if coasted:
                    submitted += len(coasted)
                    output.put(_Inferred(coasted, None, [], t0))
                if not ready:
                    continue
            images = [frame.image for _, frame in ready]
            padded = images + [blank] * ((detector.fixed_batch or len(images)) - len(images))
            if pool is None:  # a service's engine shares the detector (and its input buffer) with requests
                result = _preprocess_and_infer(detector, padded, rec, fresh=roster is not None)
            else:  # the batch's own canvas array: another batch may be letterboxing at the same time
                result = pool.submit(_preprocess_and_infer, detector, padded, rec, True)
            rec.add(BATCH_SIZE, len(ready))
            submitted += len(ready)
            output.put(_Inferred(ready, result, [im.shape[:2] for im in padded], t0))
            t2 = now()
            if on_status and t2 - last_status >= opts.status_every_s:
                last_status = t2
                on_status(status_of(state, everyone, rec))
        output.finish()
    finally:
        if output.thread.is_alive():  # an exception above: stop the output thread without writing more
            output.queue.put(None)
            output.thread.join()
        if pool is not None:
            pool.shutdown(wait=True)
        for stream in everyone:
            stream.close()
        output.join_closers()
        for sink in shared_sinks:
            sink.close()
    return build_report(ModelInfo.of(detector), [s.report(now() - state.started) for s in everyone],
                        state.processed, now() - state.started, rec)


def _prepare(stream: Stream, opts: StreamOptions) -> None:
    """A stream as the engine runs it: a file read ahead on its own thread, its tracker and analytics."""
    if not stream.source.live and not isinstance(stream.source, ReadAhead):
        stream.source = ReadAhead(stream.source)
    if opts.track is not None and stream.tracker is None:
        stream.tracker = opts.track.make()
    if stream.analytics is None:
        stream.analytics = Analytics.for_source(opts.lines, opts.zones, stream.name, opts.count_after)


def _change(roster: Roster, opts: StreamOptions, active: list[Stream], everyone: list[Stream],
            output: _Output) -> None:
    """The roster's joins and leaves, between two batches: a leaving stream gathers no more frames and is
    closed once the output thread has written those it already has (``_Leave``)."""
    joining, leaving = roster.take()
    for stream in joining:
        _prepare(stream, opts)
        active.append(stream)
        everyone.append(stream)
    for stream in leaving:  # running, or already out of the rotation (a file that ended): closed either way
        if stream in active:
            active.remove(stream)
        output.put(_Leave(stream))


def status_of(state: StreamState, streams: Sequence[Stream], rec: LatencyRecorder) -> StatusUpdate:
    elapsed = max(now() - state.started, 1e-9)
    return StatusUpdate(state.processed, state.processed / elapsed, rec.last("e2e"), rec.last("inference"),
                        sum(s.source.frames_dropped for s in streams), sum(s.source.outages for s in streams),
                        sum(s.source.decode_errors for s in streams))


def build_report(model: ModelInfo | None, sources: Sequence[SourceReport], processed: int, elapsed: float,
                 rec: LatencyRecorder, ray=None) -> RunReport:
    """The run report from its sources' reports and the run's timings; shared by a local run and the Ray
    driver, which gathers its workers' source reports and timing samples."""
    return RunReport(model, tuple(sources), processed, round(max(elapsed, 1e-9), 3),
                     LatencySummary.from_recorder(rec, "e2e"), LatencySummary.from_recorder(rec, "frame_age"),
                     stage_summaries(rec), LatencySummary.from_recorder(rec, "queue_wait"),
                     LatencySummary.from_recorder(rec, BATCH_SIZE),
                     ray=ray)
