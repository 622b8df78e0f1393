"""The service's streams (``/v1/streams``): cameras and files an API client adds and removes while the
others run, all on one stream engine (``roster.Roster``) beside the ``/v1/detect`` batcher, over the same
detector.

A stream's source is opened off the event loop (an RTSP camera may take seconds to answer) and only then
joins the engine, so an add never holds up the running streams; a source that does not open is the
request's 4xx. Each stream may have its own minimum score, tracker, counting lines and zones, and a video
saved under the server's output folder.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from edgedet.runtime.analytics import Analytics, check_names, parse_line, parse_zone
from edgedet.runtime.detector import Detector
from edgedet.runtime.engine import Stream, StreamOptions, StreamState, run_engine
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import now
from edgedet.runtime.roster import Roster
from edgedet.runtime.serve.feeds import EventFeed, PreviewFeed
from edgedet.runtime.serve.refusal import Refused
from edgedet.runtime.serve.source_policy import SourcePolicy
from edgedet.runtime.sinks import Sink, VideoSink
from edgedet.runtime.sources import open_source
from edgedet.runtime.tracking import TrackerSpec

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_STREAMS = 64


@dataclass(frozen=True)
class StreamRequest:
    """What a client asks for (``POST /v1/streams``'s body, already type-checked by the API)."""

    source: str
    name: str | None = None
    conf: float | None = None
    track: str | None = None
    lines: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    save: str | None = None


@dataclass(frozen=True)
class Feeds:
    events: EventFeed
    preview: PreviewFeed


@dataclass
class StreamService:
    """The engine thread and its roster; ``add``/``remove`` from the API's handlers. With no ``detector``
    (the model is elsewhere) or a ``refusal``, no engine runs and every add is a 501."""

    detector: Detector | None
    policy: SourcePolicy = field(default_factory=SourcePolicy)
    roster: Roster = field(default_factory=Roster)
    state: StreamState = field(default_factory=StreamState)
    feeds: dict[str, Feeds] = field(default_factory=dict)
    refusal: str | None = None  # why this server runs no streams (a Ray Serve replica): every add's 501
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def __post_init__(self) -> None:
        if self.detector is None and self.refusal is None:  # the model is elsewhere: no engine to run
            self.refusal = "this server runs no streams"

    def start(self) -> None:
        if self.refusal is not None:
            return
        self._thread = threading.Thread(target=self._run, name="edgedet-streams", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            run_engine(self.detector, [], StreamOptions(), state=self.state, roster=self.roster)
        except BaseException as exc:  # the engine's failure is every later request's 503
            self._error = exc

    def stop(self) -> None:
        self.state.stop.set()
        if self._thread is not None:
            self._thread.join(30)

    async def add(self, request: StreamRequest) -> Stream:
        if self.refusal is not None:
            raise Refused(501, self.refusal)
        if self._error is not None or self._thread is None or not self._thread.is_alive():
            raise Refused(503, "the stream engine is not running")
        if not self.detector.concurrent:
            raise Refused(501, "this backend runs one inference at a time: streams need ONNX Runtime or OpenVINO")
        if len(self.roster.present()) >= MAX_STREAMS:
            raise Refused(429, f"this server runs {MAX_STREAMS} streams at most: remove one first")
        spec = self.policy.source(request.source)
        taken = {stream.name for stream in self.roster.present()}
        name = request.name or next(f"stream{i}" for i in range(1, MAX_STREAMS + 2) if f"stream{i}" not in taken)
        if len(name) > 64 or not set(name) <= NAME_CHARS:
            raise Refused(400, f"stream name '{name[:64]}' must be 1-64 letters, digits, '-', '_' or '.'")
        if self.roster.get(name) is not None:
            raise Refused(409, f"a stream named '{name}' is running already: pick another name")
        try:
            lines = tuple(parse_line(text) for text in request.lines)
            zones = tuple(parse_zone(text) for text in request.zones)
            check_names(lines, zones, [name])
            tracker = TrackerSpec(request.track).make() if request.track or lines or zones else None
        except EdgedetError as exc:
            raise Refused(400, str(exc)) from None
        save = self.policy.save_path(request.save) if request.save else None
        try:  # off the event loop: a camera may take seconds to answer
            source = await asyncio.to_thread(open_source, spec, name=name)
        except EdgedetError as exc:
            raise Refused(422, str(exc)) from None
        loop = asyncio.get_running_loop()
        events, preview = EventFeed(loop), PreviewFeed(loop)
        sinks: list[Sink] = [events, preview]
        try:
            if save is not None:
                save.parent.mkdir(parents=True, exist_ok=True)
                sinks.append(VideoSink(save, source.fps))
            stream = Stream(name, source, sinks, tracker=tracker, conf=request.conf,
                            analytics=Analytics.for_source(lines, zones, name))
            self.roster.add(stream)
            self.feeds[name] = Feeds(events, preview)
        except BaseException as exc:
            source.close()
            for sink in sinks:
                sink.close()
            if isinstance(exc, EdgedetError):
                raise Refused(409, str(exc)) from None
            raise
        return stream

    def remove(self, name: str) -> Stream:
        try:
            stream = self.roster.remove(name)
        except EdgedetError as exc:
            raise Refused(404, str(exc)) from None
        self.feeds.pop(name, None)  # the stream's close ends its clients' feeds
        return stream

    def feed(self, name: str) -> Feeds:
        self.get(name)
        return self.feeds[name]

    def get(self, name: str) -> Stream:
        stream = self.roster.get(name)
        if stream is None:
            raise Refused(404, f"no stream named '{name}' is running")
        return stream

    def describe(self, stream: Stream) -> dict[str, Any]:
        """A stream's live report (the run report's per-source entry, so far)."""
        return stream.report(now() - stream.started).to_json()
