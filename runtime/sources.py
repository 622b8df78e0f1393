"""Video sources: files and image folders without loss, live streams newest-frame-only.

Live sources (camera index, rtsp/http URL, GStreamer pipeline) run a capture thread that
keeps only the newest frame; a frame the consumer never took is counted as dropped, so the
output never falls behind the camera. A live stream that stops is reopened with backoff,
the outage counted and logged. Files are read in order, every frame.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

import cv2

from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import Frame, now
from edgedet.runtime.images import IMAGE_SUFFIXES, list_images, read_rgb

log = logging.getLogger("edgedet.sources")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts")
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
OPEN_TIMEOUT_MS = 5000


class Source(ABC):
    """Frames from one input. ``read(timeout)`` returns the next frame, or None when none came in
    time; ``exhausted`` tells the end of the input apart from a slow one."""

    live = False
    description = ""

    def __init__(self) -> None:
        self.frames_in = 0  # frames that arrived from the device/decoder
        self.frames_dropped = 0
        self.outages = 0
        self.fps: float | None = None

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
    def __init__(self, spec: str) -> None:
        super().__init__()
        self.files = list_images(spec)
        self.description = f"{len(self.files)} images from {spec}"
        self._i = 0

    @property
    def exhausted(self) -> bool:
        return self._i >= len(self.files)

    def read(self, timeout: float | None = None) -> Frame | None:
        if self.exhausted:
            return None
        image = read_rgb(self.files[self._i])
        frame = Frame(self._i, image, now())
        self._i += 1
        self.frames_in += 1
        return frame


def _open_capture(spec: str | int, backend: int = cv2.CAP_ANY) -> cv2.VideoCapture:
    if isinstance(spec, str) and spec.startswith(URL_SCHEMES):
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
        return cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)
    return cv2.VideoCapture(spec, backend)


class VideoFileSource(Source):
    def __init__(self, path: str) -> None:
        super().__init__()
        if not Path(path).is_file():
            raise EdgedetError(f"video file '{path}' does not exist")
        self.cap = _open_capture(path)
        if not self.cap.isOpened():
            raise EdgedetError(f"cannot open video '{path}': not a video OpenCV can decode")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or None
        self.description = f"video {path}"
        self._i = 0
        self._ended = False

    @property
    def exhausted(self) -> bool:
        return self._ended

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._ended:
            return None
        ok, bgr = self.cap.read()
        if not ok:
            self._ended = True
            return None
        frame = Frame(self._i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now(), self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1e3)
        self._i += 1
        self.frames_in += 1
        return frame

    def close(self) -> None:
        self._ended = True
        self.cap.release()


class LiveSource(Source):
    """Capture thread + a one-frame slot. ``read`` waits for a frame newer than the last one."""

    live = True

    def __init__(self, spec: str | int, backend: int = cv2.CAP_ANY, what: str = "stream",
                 max_backoff_s: float = 5.0) -> None:
        super().__init__()
        self.spec, self.backend, self.max_backoff_s = spec, backend, max_backoff_s
        self.description = f"{what} {spec}"
        cap = _open_capture(spec, backend)
        for _ in range(2 if isinstance(spec, str) else 0):  # a stream may need a moment to start serving
            if cap.isOpened():
                break
            time.sleep(0.5)
            cap = _open_capture(spec, backend)
        if not cap.isOpened():
            raise EdgedetError(f"cannot open {what} '{spec}': check it exists and is reachable")
        self.fps = cap.get(cv2.CAP_PROP_FPS) or None
        self._cap = cap
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._taken = True
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._capture, name="edgedet-capture", daemon=True)
        self._thread.start()

    def _reopen(self) -> bool:
        backoff = 0.25
        self.outages += 1
        log.warning("source %s stopped; reopening (outage %d)", self.spec, self.outages)
        while not self._stop.is_set():
            self._cap.release()
            self._cap = _open_capture(self.spec, self.backend)
            if self._cap.isOpened():
                log.warning("source %s reopened", self.spec)
                return True
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
        return False

    def _capture(self) -> None:
        index = 0
        while not self._stop.is_set():
            ok, bgr = self._cap.read()
            if not ok:
                if not self._reopen():
                    break
                continue
            frame = Frame(index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now())
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


def open_source(spec: str) -> Source:
    """Camera index, video file, image file/folder/glob, rtsp/http(s) URL or GStreamer pipeline."""
    text = str(spec).strip()
    if text.isdigit():
        return LiveSource(int(text), what="camera")
    if text.startswith(URL_SCHEMES):
        return LiveSource(text, what="stream")
    if "!" in text:
        return LiveSource(text, cv2.CAP_GSTREAMER, what="GStreamer pipeline")
    path = Path(text)
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoFileSource(text)
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES) or any(c in text for c in "*?["):
        return ImageFolderSource(text)
    if path.is_file():
        return VideoFileSource(text)
    raise EdgedetError(f"source '{spec}' is not a camera index, URL, GStreamer pipeline, or an existing file/folder")
