"""``edgedet run --ray``: the sources spread over a Ray cluster; the sinks and the report stay here.

The sources are dealt round-robin into one group per worker (by default one worker per live node
of the cluster, placed with Ray's SPREAD strategy), so batching still happens inside each worker
(``cluster_worker.StreamWorker``, a Ray actor). The model file's bytes go to the cluster once
(``ray.put``), so it need not exist on the other nodes; file sources must be readable at the same
path on every node (shared storage), cameras and URLs wherever the worker runs.

Each worker streams its frames' results back (a Ray streaming generator); the driver writes them
to the same sinks a local run has and builds the same report from the workers' raw samples. A
worker that dies (its process or node lost: Ray's ``RayActorError``) is reported in ``workers``,
and its group starts again on a new worker: a file resumes at the first frame the driver has not
received (those frames are redone, and each source's ``restarts`` says from which frame), a live
source reopens. A tracked file resumes with its tracker as it was after that frame (each frame's result
carries its tracker's state), so the ids go on as in an uninterrupted run; lines and zones are counted
here, on the frames as they arrive, so no event is lost or counted twice. A frame that arrives twice is
written once. An error the worker raises itself (a
source that does not open there, a model its backend refuses) stops the run with that line.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgedet.runtime.analytics import Analytics
from edgedet.runtime.captures import ARRIVAL
from edgedet.runtime.cluster_worker import (
    FrameChunk,
    FrameResult,
    SourceFailed,
    SourcesOpened,
    StreamWorker,
    WorkerHello,
    WorkerJob,
    WorkerMessage,
    WorkerReport,
)
from edgedet.runtime.engine import StreamOptions, StreamState, arrival_e2e, build_report
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import now
from edgedet.runtime.report import (
    LatencySummary,
    RayFacts,
    Restart,
    RunReport,
    SourceHealth,
    SourceReport,
    StatusUpdate,
    WorkerRecord,
)
from edgedet.runtime.sinks import Sink, VideoSink, write_to_sinks
from edgedet.runtime.stats import LatencyRecorder
from edgedet.runtime.trails import Trails

RESTARTS_PER_GROUP = 3  # a group whose workers keep dying is given up after this many restarts
STOP_GRACE_S = 30.0  # after a stop, workers get this long to close their sources and report
EVENT_WAIT_S = 0.2


@dataclass
class ClusterModel:
    """The model file and how every worker opens it."""

    path: Path
    backend: str = "auto"
    precision: str = "fp32"
    provider: str = "cpu"
    threads: int | None = None

    def files(self) -> dict[str, bytes]:
        """The file, and a TensorRT engine's manifest (``model.engine.json``) when there is one."""
        files = {self.path.name: self.path.read_bytes()}
        manifest = self.path.with_name(self.path.name + ".json")
        if manifest.is_file():
            files[manifest.name] = manifest.read_bytes()
        return files


@dataclass
class RemoteStream:
    """A source run by some worker, as the driver sees it: its sinks and what has arrived."""

    name: str
    spec: str
    sinks: list[Sink] = field(default_factory=list)
    live: bool = False
    next_index: int = 0  # files: the first frame not yet received, where a restart resumes
    processed: int = 0
    duplicates: int = 0
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    restarts: list[Restart] = field(default_factory=list)
    entry: SourceReport | None = None  # its report from the last worker that ran it
    trails: Trails = field(default_factory=Trails)  # its tracks' recent paths, for drawing
    analytics: Analytics | None = None  # counted here, on frames received once and in order
    tracker_state: bytes | None = None  # a tracked file's tracker after its last frame received
    worker: int | None = None

    def write(self, result: FrameResult) -> None:
        if not self.live and result.index < self.next_index:
            self.duplicates += 1
            return
        write_to_sinks(self.sinks, result.frame(), result.detections, self.trails, self.analytics)
        self.next_index = result.index + 1
        self.tracker_state = result.tracker_state
        self.processed += 1

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


@dataclass(frozen=True)
class WorkerEnded:
    """The worker's generator is done (after its report, or after a ``SourceFailed``)."""


@dataclass(frozen=True)
class WorkerDied:
    """The worker's process or node is gone (Ray's ``RayActorError``): its group starts again elsewhere."""

    reason: str


@dataclass(frozen=True)
class WorkerFailed:
    """The worker could not start, or its code raised: the run stops with this line."""

    reason: str


DriverEvent = WorkerHello | WorkerMessage | WorkerEnded | WorkerDied | WorkerFailed


@dataclass
class Attempt:
    """One worker running one group of sources."""

    id: int
    group: int
    names: list[str]
    actor: object
    hello: WorkerHello | None = None
    status: str = "starting"  # starting | running | finished | died | failed
    error: str | None = None

    def record(self) -> WorkerRecord:
        hello = self.hello
        return WorkerRecord(self.id, self.group, tuple(self.names), self.status, hello and hello.host,
                            hello and hello.node, hello and hello.pid, self.error)


def connect(address: str) -> None:
    """``auto`` (a running cluster), ``local`` (start one in this process) or ``host:port``.

    ``log_to_driver=False``: Ray would otherwise copy every worker's and raylet's output into this
    process's stdout from a thread of its own, at any time (even after the run, into whatever stdout
    is then), which breaks ``--json`` output; the workers report to the driver through typed
    messages instead (``cluster_worker``)."""
    import ray

    if ray.is_initialized():
        return
    if address not in ("auto", "local"):
        require_reachable(address)
    extra = {"include_dashboard": False} if address == "local" else {}
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, **extra)
    except (ConnectionError, RuntimeError) as exc:
        raise EdgedetError(f"cannot reach a Ray cluster at '{address}' ({str(exc).splitlines()[0]}): start one with "
                           "'ray start --head', or use the address 'local' for a cluster in this process") from None


def require_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``host:port`` that takes TCP connections; without this check Ray retries a wrong address for
    minutes before it gives up."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise EdgedetError(f"Ray address '{address}' is not auto, local or HOST:PORT (the head's GCS port, 6379 by "
                           "default)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise EdgedetError(f"no Ray cluster answers at '{address}' ({exc.strerror or exc}): start one with "
                           "'ray start --head', or use the address 'local' for a cluster in this process") from None


def alive_nodes() -> int:
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))


def plan_groups(count: int, workers: int) -> list[list[int]]:
    """Source indices dealt round-robin into ``min(workers, count)`` groups."""
    workers = max(1, min(workers, count))
    return [list(range(g, count, workers)) for g in range(workers)]


class ClusterRun:
    def __init__(self, model: ClusterModel, streams: Sequence[RemoteStream], opts: StreamOptions, batch: int | None,
                 state: StreamState, on_event: Callable[[Attempt, DriverEvent], None] | None = None) -> None:
        import ray

        self.ray, self.streams, self.opts, self.batch, self.state = ray, list(streams), opts, batch, state
        self.by_name = {s.name: s for s in self.streams}
        for stream in self.streams:
            if stream.analytics is None:
                stream.analytics = Analytics.for_source(opts.lines, opts.zones, stream.name, opts.count_after)
        self.on_event = on_event
        self.model_ref = ray.put(model.files())
        self.model = model
        self.events: queue.Queue[tuple[Attempt, DriverEvent]] = queue.Queue()
        self.attempts: list[Attempt] = []
        self.restarts: dict[int, int] = {}
        self.rec, self.model_info = LatencyRecorder(), None
        self.send_images = any(sink.needs_pixels for s in streams for sink in s.sinks)
        self.worker_class = ray.remote(num_cpus=1, max_concurrency=2, max_restarts=0)(StreamWorker)

    def launch(self, group: int, names: list[str]) -> Attempt:
        resume = {n: self.by_name[n].next_index for n in names if not self.by_name[n].live}
        actor = self.worker_class.options(scheduling_strategy="SPREAD").remote(
            self.model_ref, self.model.backend, self.model.precision, self.model.provider, self.model.threads,
            self.opts.parallel)
        attempt = Attempt(len(self.attempts), group, names, actor)
        self.attempts.append(attempt)
        # lines and zones are counted here, where every frame arrives once and in order whichever worker ran it
        options = dataclasses.replace(self.opts, lines=(), zones=())
        states = {n: self.by_name[n].tracker_state for n in names if self.by_name[n].tracker_state is not None}
        job = WorkerJob([self.by_name[n].spec for n in names], names, options, self.batch, resume, self.send_images,
                        states)
        threading.Thread(target=self._pump, args=(attempt, job), daemon=True, name=f"edgedet-pump-{attempt.id}").start()
        return attempt

    def _pump(self, attempt: Attempt, job: WorkerJob) -> None:
        """Moves one worker's messages into the event queue, ending with ``WorkerEnded``, ``WorkerDied`` or
        ``WorkerFailed``."""
        ray = self.ray
        try:
            hello: WorkerHello = ray.get(attempt.actor.hello.remote())
            self.events.put((attempt, hello))
            if hello.error:
                self.events.put((attempt, WorkerFailed(hello.error)))
                return
            for ref in attempt.actor.run.remote(job):
                self.events.put((attempt, ray.get(ref)))
            self.events.put((attempt, WorkerEnded()))
        except ray.exceptions.RayActorError as exc:
            line = str(exc).splitlines()[0]
            self.events.put((attempt, WorkerFailed(line) if exc.actor_init_failed else WorkerDied(line)))
        except Exception as exc:  # an error raised in the worker's code: the run stops with it
            self.events.put((attempt, WorkerFailed(str(exc).splitlines()[-1] if str(exc) else type(exc).__name__)))

    def run(self, workers: int, on_status: Callable[[StatusUpdate], None] | None = None) -> None:
        for group, members in enumerate(plan_groups(len(self.streams), workers)):
            self.launch(group, [self.streams[i].name for i in members])
        running = set(range(len(self.attempts)))
        stopping_since, failure, last_status = None, None, now()
        while running:
            if stopping_since is None and self._should_stop():
                stopping_since = self._stop_all()
            if stopping_since is not None and now() - stopping_since > STOP_GRACE_S:
                for attempt in self.attempts:
                    if attempt.id in running:
                        self.ray.kill(attempt.actor)
                break
            try:
                attempt, event = self.events.get(timeout=EVENT_WAIT_S)
            except queue.Empty:
                continue
            if isinstance(event, (WorkerEnded, WorkerDied, WorkerFailed, SourceFailed)):
                running.discard(attempt.id)
            match event:
                case WorkerHello():
                    attempt.hello, attempt.status = event, "running"
                case SourcesOpened():
                    self._opened(attempt, event)
                case FrameChunk():
                    self._frames(event.results)
                case WorkerReport():
                    self._report(event)
                case WorkerEnded():
                    if attempt.status != "failed":  # a worker that sent SourceFailed also ends its generator
                        attempt.status = "finished"
                    self.ray.kill(attempt.actor)  # its work is over: free its CPU for others
                case WorkerDied():
                    attempt.status, attempt.error = "died", event.reason
                    if stopping_since is None:
                        replacement = self._restart(attempt)
                        if replacement is None:
                            failure = f"the workers running {', '.join(attempt.names)} died " \
                                      f"{RESTARTS_PER_GROUP + 1} times (last: {event.reason}); gave up"
                            stopping_since = self._stop_all()
                        else:
                            running.add(replacement.id)
                case WorkerFailed() | SourceFailed():
                    line = event.reason if isinstance(event, WorkerFailed) else event.line
                    attempt.status, attempt.error = "failed", line
                    failure = failure or line
                    stopping_since = stopping_since or self._stop_all()
            if self.on_event:
                self.on_event(attempt, event)
            if on_status and now() - last_status >= self.opts.status_every_s:
                last_status = now()
                on_status(self.status())
        if failure:
            raise EdgedetError(f"a Ray worker failed: {failure}")

    def _should_stop(self) -> bool:
        if self.state.stop.is_set():
            return True
        if self.opts.max_frames is not None and self.state.processed >= self.opts.max_frames:
            return True
        return any(sink.stop_requested for s in self.streams for sink in s.sinks)

    def _stop_all(self) -> float:
        for attempt in self.attempts:
            if attempt.status in ("starting", "running"):
                attempt.actor.stop.remote()
        return now()

    def _restart(self, dead: Attempt) -> Attempt | None:
        """The dead worker's group on a new worker, resuming files where the driver's frames end;
        None once the group has been restarted ``RESTARTS_PER_GROUP`` times."""
        count = self.restarts.get(dead.group, 0) + 1
        self.restarts[dead.group] = count
        if count > RESTARTS_PER_GROUP:
            return None
        attempt = self.launch(dead.group, dead.names)
        for name in dead.names:
            stream = self.by_name[name]
            stream.restarts.append(Restart(dead.id, attempt.id, None if stream.live else stream.next_index))
        return attempt

    def _opened(self, attempt: Attempt, opened: SourcesOpened) -> None:
        for name, info in opened.sources.items():
            stream = self.by_name[name]
            stream.live, stream.worker = info.live, attempt.id
            for sink in stream.sinks:
                if isinstance(sink, VideoSink):
                    sink.adopt_fps(info.fps)

    def _frames(self, results: list[FrameResult]) -> None:
        for result in results:
            if self.opts.max_frames is not None and self.state.processed >= self.opts.max_frames:
                return
            stream = self.by_name[result.source]
            before = stream.processed
            stream.write(result)
            self.state.processed += stream.processed - before

    def _report(self, message: WorkerReport) -> None:
        self.rec.extend(message.samples)
        for name, series in message.source_samples.items():
            self.by_name[name].latency.extend(series)
        for entry in message.report.sources:
            self.by_name[entry.name].entry = entry
        self.model_info = self.model_info or message.report.model

    def status(self) -> StatusUpdate:
        elapsed = max(now() - self.state.started, 1e-9)
        return StatusUpdate(self.state.processed, self.state.processed / elapsed,
                            workers=sum(a.status == "running" for a in self.attempts),
                            restarts=sum(len(s.restarts) for s in self.streams))

    def report(self) -> RunReport:
        elapsed = max(now() - self.state.started, 1e-9)
        ray = RayFacts(tuple(a.record() for a in self.attempts), sum(len(s.restarts) for s in self.streams),
                       sum(s.duplicates for s in self.streams))
        return build_report(self.model_info, [self._entry(s, elapsed) for s in self.streams], self.state.processed,
                            elapsed, self.rec, ray=ray)

    def _entry(self, stream: RemoteStream, elapsed: float) -> SourceReport:
        """The worker's report of the source, with what the driver itself counted (frames written, latency
        over every attempt, restarts); a source no worker reported on has only the driver's counts."""
        last = stream.entry
        return SourceReport(stream.name, last.source if last else stream.spec, last.live if last else stream.live,
                            last.frames_in if last else 0, stream.processed, last.frames_dropped if last else 0,
                            round(stream.processed / elapsed, 3), LatencySummary.from_recorder(stream.latency, "e2e"),
                            LatencySummary.from_recorder(stream.latency, "frame_age"),
                            last.health if last else SourceHealth(), stream.worker, tuple(stream.restarts),
                            last.tracks if last else None,  # a resumed source's: its last worker's tracks
                            stream.analytics and stream.analytics.totals(), last.clock if last else ARRIVAL,
                            arrival_e2e(last.clock if last else ARRIVAL, stream.latency))


def run_on_ray(model: ClusterModel, streams: Sequence[RemoteStream], opts: StreamOptions, batch: int | None,
               address: str, workers: int | None = None, state: StreamState | None = None,
               on_status: Callable[[StatusUpdate], None] | None = None, shared_sinks: Sequence[Sink] = (),
               on_event: Callable[[Attempt, DriverEvent], None] | None = None) -> RunReport:
    """Run the streams on the cluster at ``address`` with ``workers`` workers (default: one per live
    node); every stream's sinks, then ``shared_sinks``, are always closed. ``on_event(attempt, event)``
    sees each worker's messages as they arrive (its ``WorkerHello`` carries its pid and host)."""
    state = state or StreamState()
    try:
        connect(address)
        run = ClusterRun(model, streams, opts, batch, state, on_event)
        run.run(workers or alive_nodes(), on_status)
        return run.report()
    finally:
        for stream in streams:
            stream.close()
        for sink in shared_sinks:
            sink.close()

