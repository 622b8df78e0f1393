"""One worker process of ``edgedet run --ray``: its share of the sources through the torch-free runtime.

The driver (``cluster.py``) makes ``StreamWorker`` a Ray actor, one per group of sources, so that
batching still happens inside each worker: ``run`` drives the one stream engine over the group in a
thread and, as a generator, hands back what each frame produced (``FrameResult``: its index,
timestamps, detections, and its pixels only when the driver has a sink that draws) in chunks, then
the worker's report with the raw latency samples, so the driver's percentiles are over every frame
and not an average of summaries. The driver owns every sink; a worker writes nothing.

A worker that resumes a file after another worker died skips the frames the driver already has
(``ResumedSource``): they are read and dropped, not seeked to, since seeking by frame number is
inexact for many codecs. Nothing here imports Ray; the module is the same code either side of it.
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedet.runtime.detections import Detections
from edgedet.runtime.engine import Stream, StreamOptions, StreamState, run_engine, warm_up
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import Frame
from edgedet.runtime.loader import load_detector
from edgedet.runtime.report import RunReport
from edgedet.runtime.sinks import Sink
from edgedet.runtime.sources import Source, open_source
from edgedet.runtime.stats import LatencyRecorder
from edgedet.runtime.tracking import Tracker

CHUNK_WAIT_S = 0.05  # a chunk goes back at least this often while frames come


@dataclass(frozen=True)
class WorkerReport:
    """A worker's last message: its run report and the raw samples behind it, so the driver's percentiles are
    over every frame (``LatencyRecorder.samples()``), and the frames a resumed file skipped."""

    report: RunReport
    samples: dict[str, list[float]]  # the batch sizes too (``stats.BATCH_SIZE``)
    source_samples: dict[str, dict[str, list[float]]]
    skipped: dict[str, int]


@dataclass(frozen=True)
class WorkerHello:
    """A new worker's first word: where it runs (for the report, and for a test that kills it), or why it
    cannot run at all (its model does not load there)."""

    pid: int
    host: str
    node: str | None
    error: str | None = None


@dataclass(frozen=True)
class OpenedSource:
    live: bool
    fps: float | None


@dataclass(frozen=True)
class SourcesOpened:
    """The group's sources opened on the worker (a video sink adopts a file's frame rate from it)."""

    sources: dict[str, OpenedSource]


@dataclass(frozen=True)
class SourceFailed:
    """A source did not open on the worker; the run stops with this line."""

    line: str


@dataclass
class FrameResult:
    """What the driver needs to write one frame to its sinks."""

    source: str
    index: int
    captured: float
    source_time_s: float | None
    shape: tuple[int, int]
    detections: Detections
    image: np.ndarray | None  # only when the driver has a sink that shows pixels
    tracker_state: bytes | None = None  # a file source's tracker just after this frame (pickled), for a resume

    def frame(self) -> Frame:
        """The frame for the driver's sinks. Without pixels (JSON Lines only needs the frame's size) the
        image is a zero-strided view of the right shape that holds no memory."""
        image = self.image if self.image is not None else np.broadcast_to(np.zeros(1, np.uint8), (*self.shape, 3))
        return Frame(self.index, image, self.captured, self.source_time_s)


@dataclass(frozen=True)
class FrameChunk:
    """The frames processed since the last chunk, in order per source."""

    results: list[FrameResult]


WorkerMessage = SourcesOpened | FrameChunk | WorkerReport | SourceFailed  # what ``StreamWorker.run`` yields


@dataclass
class WorkerJob:
    specs: list[str]
    names: list[str]
    options: StreamOptions
    batch: int | None = None
    resume_at: dict[str, int] | None = None  # file sources: first frame index the driver still needs
    send_images: bool = False
    trackers: dict[str, bytes] | None = None  # resumed file sources: their trackers as after the frame before


class ResumedSource:
    """A source whose frames before ``start`` are read and dropped (the driver has them already)."""

    def __init__(self, inner: Source, start: int) -> None:
        self.inner, self.start, self.skipped = inner, start, 0

    def read(self, timeout: float | None = None) -> Frame | None:
        while True:
            frame = self.inner.read(timeout)
            if frame is None or frame.index >= self.start:
                return frame
            self.skipped += 1

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class RelaySink(Sink):
    """Queues each processed frame's ``FrameResult`` for the generator that sends them back; for a tracked
    file source, with its tracker's state as this frame left it (the sinks are written right after the
    tracker's update, in the engine's output thread), so a worker that takes over after this one dies goes on
    with the same tracks and ids."""

    def __init__(self, name: str, out: queue.SimpleQueue, send_images: bool, tracker: Tracker | None = None) -> None:
        self.name, self.out, self.send_images, self.tracker = name, out, send_images, tracker

    def write(self, frame, detections, annotated) -> None:
        state = pickle.dumps(self.tracker, protocol=pickle.HIGHEST_PROTOCOL) if self.tracker is not None else None
        self.out.put(FrameResult(self.name, frame.index, frame.captured, frame.source_time_s,
                                 tuple(frame.image.shape[:2]), detections,
                                 frame.image if self.send_images else None, state))


class StreamWorker:
    """Holds one detector, loaded from the model file's bytes the driver sent (the file need not exist
    on this node), and runs one group of sources at a time."""

    def __init__(self, files: dict[str, bytes], backend: str, precision: str, provider: str,
                 threads: int | None, parallel: int = 1) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="edgedet-worker-")
        for name, data in files.items():  # the model, and an engine's manifest beside it
            Path(self._dir.name, name).write_bytes(data)
        model = Path(self._dir.name, next(iter(files)))
        self.detector, self.error = None, None
        try:
            self.detector = load_detector(model, backend=backend, precision=precision, provider=provider,
                                          threads=threads, spin=False,  # as a local run: the engine's threads
                                          streams=parallel)  # OpenVINO: a stream per inference thread
            warm_up(self.detector, parallel)  # before any source opens, as a local run
        except EdgedetError as exc:  # told in ``hello``: the driver stops with this line, it does not retry
            self.error = str(exc)
        self.state = StreamState()

    def hello(self) -> WorkerHello:
        return WorkerHello(os.getpid(), socket.gethostname(), ray_node_id(), self.error)

    def stop(self) -> None:
        """Ends the running group like Ctrl-C ends a local run: every source and stream closes cleanly."""
        self.state.stop.set()

    def run(self, job: WorkerJob) -> Iterator[WorkerMessage]:
        """Yields ``SourcesOpened``, then ``FrameChunk``s, then the ``WorkerReport``; or ``SourceFailed``
        when a source cannot be opened here."""
        out: queue.SimpleQueue = queue.SimpleQueue()
        streams: list[Stream] = []
        resumed: dict[str, ResumedSource] = {}
        try:
            for spec, name in zip(job.specs, job.names):
                source = open_source(spec, job.options.live, name)
                start = (job.resume_at or {}).get(name, 0)
                state = (job.trackers or {}).get(name)
                if start and not source.live:
                    source = resumed[name] = ResumedSource(source, start)
                tracker = None
                if job.options.track is not None:  # a resumed file's as the last worker left it
                    tracker = pickle.loads(state) if state and start else job.options.track.make()
                relay = RelaySink(name, out, job.send_images, tracker if not source.live else None)
                # a resumed file's frames before ``start`` went through the engine elsewhere (--detect-every)
                streams.append(Stream(name, source, [relay], tracker=tracker, gathered=start if tracker else 0))
        except BaseException as exc:
            for stream in streams:
                stream.close()
            if isinstance(exc, EdgedetError):
                yield SourceFailed(f"on {socket.gethostname()}: {exc}")
                return
            raise
        yield SourcesOpened({s.name: OpenedSource(s.source.live, s.source.fps) for s in streams})
        rec, result = LatencyRecorder(), {}

        def work() -> None:
            try:
                result["report"] = run_engine(self.detector, streams, job.options, job.batch, self.state,
                                              rec=rec)
            except BaseException as exc:  # raised again in the generator, so the driver sees it
                result["error"] = exc

        thread = threading.Thread(target=work, name="edgedet-worker", daemon=True)
        thread.start()
        while thread.is_alive() or not out.empty():
            chunk = drain(out, CHUNK_WAIT_S)
            if chunk:
                yield FrameChunk(chunk)
        if "error" in result:
            raise result["error"]
        yield WorkerReport(result["report"], rec.samples(), {s.name: s.latency.samples() for s in streams},
                           {name: source.skipped for name, source in resumed.items()})


def ray_node_id() -> str | None:
    """The Ray node this process runs on, when it runs under Ray (the only place this module meets it)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # not under Ray, or Ray without a runtime context
        return None


def drain(out: queue.SimpleQueue, wait_s: float) -> list:
    """Everything queued now, waiting up to ``wait_s`` for the first item."""
    try:
        items = [out.get(timeout=wait_s)]
    except queue.Empty:
        return []
    while True:
        try:
            items.append(out.get_nowait())
        except queue.Empty:
            return items
