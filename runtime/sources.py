"""Video sources: files and image folders without loss, live streams newest-frame-only; bad data
is skipped, named once and counted, never a reason to stop or to reconnect.

Live sources (camera index, rtsp/http URL, GStreamer pipeline) run a capture thread that keeps
only the newest frame; a frame the consumer never took is counted as dropped, so the output never
falls behind the camera. A frame that does not decode is dropped and counted
(``decode_errors``). The stream is reopened (with backoff, counted as an outage) only when the
connection is gone: when no frame has decoded for ``reopen_after_s`` (a stalled server: reads
time out after the same interval), or when reads fail instantly several times in a row (a closed
connection: FFmpeg reports end of stream without waiting, while an undecodable frame costs a
frame interval). Files are read in order, every frame: unreadable images in a folder are skipped
and listed, a video that stops before its container's frame count says so (``ended_early``).

An outage is told in our own words, a line when the stream is lost (why, when the next try is), a few
tries, and one when it is back -- the libraries' own lines are off (``library_logs``). ``LiveOptions``
says how RTSP is carried, how long a silent stream is given, and when to stop retrying.

RTSP goes through GStreamer's ``rtspsrc`` when PyGObject is there (the camera's clock from RTCP sender
reports), else through OpenCV's FFmpeg (arrival time only).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import cv2

from edgedet.runtime import gstreamer
from edgedet.runtime.captures import (
    ARRIVAL,
    RTSP_TRANSPORTS,
    URL_SCHEMES,
    Capture,
    OpenCvCapture,
    opencv_has_gstreamer,
)
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import Frame, now
from edgedet.runtime.images import IMAGE_SUFFIXES, list_images, read_rgb
from edgedet.runtime.library_logs import quiet_by_default

log = logging.getLogger("edgedet.sources")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts")
REOPEN_AFTER_S = 2.0  # no frame decoded for this long: the stream is gone (also the read timeout)
INSTANT_FAILURES = 5  # reads failing without waiting, in a row: the connection is closed
INSTANT_S = 0.005
WARN_FIRST = 3  # problems named one by one before they are only counted
RETRY_LINES_EVERY = 20  # after the first few, one line in this many failed reconnects of one outage
RTSP_SCHEMES = ("rtsp://", "rtsps://")


@dataclass(frozen=True)
class LiveOptions:
    """How live sources behave. ``stall_s``: no frame for this long and the stream is taken to be gone
    (also each read's timeout); ``give_up_after_s``: a stream down this long ends (None: retry for ever,
    what a camera service wants); ``rtsp_transport``: 'tcp', 'udp' or 'auto'."""

    rtsp_transport: str = "auto"
    stall_s: float = REOPEN_AFTER_S
    give_up_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.rtsp_transport not in RTSP_TRANSPORTS:
            raise EdgedetError(f"RTSP transport '{self.rtsp_transport}' is not one of {', '.join(RTSP_TRANSPORTS)}")
        if self.stall_s <= 0 or (self.give_up_after_s is not None and self.give_up_after_s < 0):
            raise EdgedetError("a stall timeout must be positive and a give-up time not negative")


class ProblemLog:
    """Names the first few problems of one kind, then only counts them, so a bad stream cannot
    flood the log; ``summary()`` says how many there were."""

    def __init__(self, source: str, what: str, first: int = WARN_FIRST) -> None:
        self.source, self.what, self.first = source, what, first
        self.count = 0

    def add(self, detail: str) -> None:
        self.count += 1
        if self.count <= self.first:
            log.warning("%s: %s (%s); skipped", self.source, self.what, detail)
        if self.count == self.first:
            log.warning("%s: further %s are counted, not logged", self.source, self.what)

    def summary(self) -> None:
        if self.count > self.first:
            log.warning("%s: %d %s in all", self.source, self.count, self.what)


class Source(ABC):
    """Frames from one input. ``read(timeout)`` returns the next frame, or None when none came in
    time; ``exhausted`` tells the end of the input apart from a slow one."""

    live = False
    description = ""

    def __init__(self) -> None:
        self.frames_in = 0  # frames that arrived from the device/decoder
        self.frames_dropped = 0
        self.outages = 0
        self.decode_errors = 0  # frames that arrived but did not decode (skipped)
        self.unreadable: list[str] = []  # files that could not be read (skipped)
        self.frames_expected: int | None = None  # what a video file's container announces
        self.ended_early = False  # a video that stopped decoding before frames_expected
        self.fps: float | None = None
        self.clock = ARRIVAL  # whose clock ``Frame.captured`` is read from
        self.gave_up = False  # a live stream that stayed down past its give-up time

    @abstractmethod
    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame; None when the source is exhausted or (live sources) none arrived in ``timeout`` s."""

    @property
    @abstractmethod
    def exhausted(self) -> bool:
        """True once no frame will ever come again (end of file, stream closed for good, source closed)."""

    def close(self) -> None:  # noqa: B027  (optional hook: most sources hold nothing to release)
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self):
        while not self.exhausted:
            frame = self.read(timeout=0.5)
            if frame is not None:
                yield frame


class ImageFolderSource(Source):
    """An image file, folder or glob, in order; files that do not decode are skipped and listed."""

    def __init__(self, spec: str) -> None:
        super().__init__()
        self.files = list_images(spec)
        self.description = f"{len(self.files)} images from {spec}"
        self._i = 0
        self._problems = ProblemLog(str(spec), "unreadable image files")

    @property
    def exhausted(self) -> bool:
        return self._i >= len(self.files)

    def read(self, timeout: float | None = None) -> Frame | None:
        while not self.exhausted:
            path = self.files[self._i]
            self._i += 1
            try:
                image = read_rgb(path)
            except EdgedetError:
                self.unreadable.append(str(path))
                self._problems.add(path.name)
                continue
            frame = Frame(self._i - 1, image, now())
            self.frames_in += 1
            return frame
        return None

    def close(self) -> None:
        self._problems.summary()


def _open_capture(spec: str) -> cv2.VideoCapture:
    quiet_by_default()
    return cv2.VideoCapture(spec)


class VideoFileSource(Source):
    """A video file, every frame in order. A frame that fails to decode is skipped (and counted) when
    later frames still decode; when decoding stops before the container's frame count,
    ``ended_early`` is set and a warning says how far it got.

    FFmpeg's decoder can take a damaged frame's neighbour with it (measured: one garbled frame in
    a 90-frame MJPEG AVI leaves 88 good reads and one failed read), so each decode error allows one
    more frame short of the container's count before the file is called cut."""

    RETRIES = 8  # failed reads tried past before a file is taken to have ended

    def __init__(self, path: str) -> None:
        super().__init__()
        if not Path(path).is_file():
            raise EdgedetError(f"video file '{path}' does not exist")
        self.cap = _open_capture(path)
        if not self.cap.isOpened():
            raise EdgedetError(f"cannot open video '{path}': not a video OpenCV can decode")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or None
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frames_expected = count if count > 0 else None
        self.path = path
        self.description = f"video {path}"
        self._i = 0
        self._ended = False
        self._problems = ProblemLog(path, "undecodable frames")

    @property
    def exhausted(self) -> bool:
        return self._ended

    def _more_expected(self, failures: int = 0) -> bool:
        errors = self.decode_errors + failures
        return self.frames_expected is not None and self._i + 2 * errors < self.frames_expected

    def read(self, timeout: float | None = None) -> Frame | None:
        failures = 0
        while not self._ended:
            ok, bgr = self.cap.read()
            if ok:
                for _ in range(failures):
                    self.decode_errors += 1
                    self._problems.add(f"after frame {self._i}")
                frame = Frame(self._i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now(),
                              self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1e3)
                self._i += 1
                self.frames_in += 1
                return frame
            failures += 1
            if not self._more_expected(failures) or failures > self.RETRIES:
                self._finish()
        return None

    def _finish(self) -> None:
        self._ended = True
        if self._more_expected():
            self.ended_early = True
            log.warning("video %s ended early: %d of %d frames decoded (the file is cut or damaged)", self.path,
                        self._i, self.frames_expected)

    def close(self) -> None:
        self._ended = True
        self.cap.release()
        self._problems.summary()


class LiveSource(Source):
    """Capture thread + a one-frame slot. ``read`` waits for a frame newer than the last one. ``name`` (the
    run's name for the source) goes into its outage lines."""

    live = True

    def __init__(self, spec: str | int, backend: int = cv2.CAP_ANY, what: str = "stream",
                 options: LiveOptions = LiveOptions(), name: str | None = None, max_backoff_s: float = 5.0,
                 gst: bool = False) -> None:
        super().__init__()
        self.spec, self.backend, self.max_backoff_s = spec, backend, max_backoff_s
        self.options, self.gst = options, gst
        self.reopen_after_s = options.stall_s
        self.description = f"{what} {spec}"
        self.label = f"{what} {name} ({spec})" if name else f"{what} {spec}"
        cap = self._open()
        for _ in range(2 if isinstance(spec, str) else 0):  # a stream may need a moment to start serving
            if cap.opened:
                break
            time.sleep(0.5)
            cap = self._open()
        if not cap.opened:
            reason = cap.error or "check it exists and is reachable"
            raise EdgedetError(f"cannot open {what} '{spec}': {reason}")
        self.fps = cap.fps
        self._cap = cap
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._taken = True
        self._stop = threading.Event()
        self._ended = False
        self._problems = ProblemLog(str(spec), "undecodable frames")
        self._thread = threading.Thread(target=self._capture, name="edgedet-capture", daemon=True)
        self._thread.start()

    def _open(self) -> Capture:
        if self.gst:
            from edgedet.runtime.gst_capture import GstCapture, rtsp_pipeline

            spec = str(self.spec)
            if spec.startswith(RTSP_SCHEMES):
                return GstCapture(rtsp_pipeline(spec, self.options.rtsp_transport), read_timeout_s=self.reopen_after_s,
                                  url=spec)
            return GstCapture(spec, read_timeout_s=self.reopen_after_s)
        return OpenCvCapture(self.spec, self.backend, self.reopen_after_s, self.options.rtsp_transport)

    def _reopen(self, reason: str, lost: float) -> bool:
        """Reconnects with backoff until a frame comes, the source closes or the give-up time passes (both
        counted from ``lost``, the last good frame); says what happened in a few lines."""
        self.outages += 1
        backoff, attempt = 0.25, 1
        give_up = self.options.give_up_after_s
        log.warning("%s lost: %s; retrying in %s (attempt 1)", self.label, reason, _seconds(backoff))
        while not self._stop.wait(backoff):
            self._cap.release()
            self._cap = self._open()
            if self._cap.opened:
                log.warning("%s back after %s (attempt %d)", self.label, _seconds(now() - lost), attempt)
                return True
            reason = self._cap.error or "it does not answer"
            down = now() - lost
            if give_up is not None and down >= give_up:
                self.gave_up = True
                log.warning("%s gave up after %s down (%d attempts): %s", self.label, _seconds(down), attempt,
                            reason)
                return False
            attempt += 1
            backoff = min(backoff * 2, self.max_backoff_s)
            if attempt <= WARN_FIRST or attempt % RETRY_LINES_EVERY == 0:
                log.warning("%s still down: %s; retrying in %s (attempt %d)", self.label, reason, _seconds(backoff),
                            attempt)
        return False

    def _capture(self) -> None:
        index, last_good = 0, now()
        failures, instant = 0, 0  # reads failed since the last good frame; of those, the latest instant ones
        while not self._stop.is_set():
            started = now()
            grab = self._cap.grab()
            if not grab.ok:
                if self._stop.is_set():  # closing: a read cut short is not an outage
                    break
                failures += 1
                instant = instant + 1 if grab.instant or now() - started < INSTANT_S else 0
                silent = now() - last_good
                if silent >= self.reopen_after_s or instant >= INSTANT_FAILURES:
                    # the connection is gone: an outage, not decode errors
                    reason = grab.failure or ("the connection closed" if instant >= INSTANT_FAILURES
                                              else f"no frame for {_seconds(silent)}")
                    failures = instant = 0
                    if not self._reopen(reason, last_good):
                        break
                    last_good = now()
                continue
            if failures:  # the stream went on: those reads were frames that did not decode
                self.decode_errors += failures
                for _ in range(failures):
                    self._problems.add(f"frame after #{index}")
                failures = instant = 0
            last_good = now()
            frame = Frame(index, grab.image, last_good, arrived=last_good)
            if grab.camera_time is not None:  # taken before it arrived: network and decode delay count too
                frame.captured = last_good - max(0.0, time.time() - grab.camera_time)
                self.clock = self._cap.clock
            index += 1
            with self._cond:
                self.frames_in += 1
                if not self._taken:
                    self.frames_dropped += 1
                self._latest, self._taken = frame, False
                self._cond.notify_all()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    @property
    def exhausted(self) -> bool:
        with self._cond:
            return (self._ended or self._stop.is_set()) and self._taken

    def read(self, timeout: float | None = None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._taken and not self._ended and not self._stop.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(0.1 if remaining is None else min(remaining, 0.1))
            if self._taken:
                return None
            self._taken = True
            return self._latest

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=10)
        self._cap.release()
        self._problems.summary()


def _seconds(value: float) -> str:
    return f"{value:.2g} s" if value < 1 else f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _pipeline_source(text: str, options: LiveOptions, name: str | None) -> LiveSource:
    """A GStreamer pipeline: through PyGObject when the system has it (whatever OpenCV wheel is
    installed), else through OpenCV's own GStreamer where its build has one."""
    if gstreamer.available():
        return LiveSource(text, what="GStreamer pipeline", options=options, name=name, gst=True)
    if opencv_has_gstreamer():
        return LiveSource(text, cv2.CAP_GSTREAMER, what="GStreamer pipeline", options=options, name=name)
    raise EdgedetError("a GStreamer pipeline source needs GStreamer's Python bindings (PyGObject), which "
                       f"were not found, and this OpenCV build has no GStreamer either: {gstreamer.INSTALL}")


def open_source(spec: str, options: LiveOptions = LiveOptions(), name: str | None = None) -> Source:
    """Camera index, video file, image file/folder/glob, rtsp/http(s) URL or GStreamer pipeline. ``options``
    and ``name`` matter to live sources only (``LiveOptions``; the name their log lines use)."""
    text = str(spec).strip()
    if text.isdigit():
        return LiveSource(int(text), what="camera", options=options, name=name)
    if text.startswith(RTSP_SCHEMES) and gstreamer.available():
        return LiveSource(text, what="stream", options=options, name=name, gst=True)
    if text.startswith(URL_SCHEMES):
        return LiveSource(text, what="stream", options=options, name=name)
    if "!" in text:
        return _pipeline_source(text, options, name)
    path = Path(text)
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoFileSource(text)
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES) or any(c in text for c in "*?["):
        return ImageFolderSource(text)
    if path.is_file():
        return VideoFileSource(text)
    raise EdgedetError(f"source '{spec}' is not a camera index, URL, GStreamer pipeline, or an existing file/folder")
