"""What a live source reads frames from: one small interface over OpenCV's ``VideoCapture`` and GStreamer's
``appsink``, so the capture thread (``sources.LiveSource``) is written once for both.

A ``Grab`` carries, besides the pixels, the time the camera stamped the frame where the stream says it
(wall-clock seconds) and, when a read fails, why in words -- the capture thread turns that into the one
line a user sees about an outage.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import cv2
import numpy as np

from edgedet.runtime.library_logs import quiet_by_default

OPEN_TIMEOUT_MS = 5000
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
ARRIVAL = "arrival"  # the frame's time is when it reached us: network and decode delay are not seen
RTSP_TRANSPORTS = ("auto", "tcp", "udp")
FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ffmpeg_options = threading.Lock()  # FFmpeg's capture options are one environment variable for the process


@dataclass(frozen=True)
class Grab:
    """One read: an RGB frame, or why there is none."""

    image: np.ndarray | None
    camera_time: float | None = None  # Unix seconds the camera (or the pipeline's clock) stamped it
    failure: str = ""  # when ``image`` is None and the reason is known: "connection refused", ...
    instant: bool = False  # the read failed without waiting (end of stream, closed connection)

    @property
    def ok(self) -> bool:
        return self.image is not None


class Capture(Protocol):
    """An open live input. ``grab`` waits at most the capture's read timeout."""

    opened: bool
    error: str  # why it did not open, when known
    fps: float | None
    clock: str  # where camera_time comes from: ARRIVAL (never set) or the camera clock's name

    def grab(self) -> Grab: ...

    def release(self) -> None: ...


class OpenCvCapture:
    """``cv2.VideoCapture``: cameras by index, FFmpeg for URLs (with open and read timeouts), OpenCV's
    own GStreamer where its build has one."""

    clock = ARRIVAL
    error = ""

    def __init__(self, spec: str | int, backend: int = cv2.CAP_ANY, read_timeout_s: float = 2.0,
                 rtsp_transport: str = "auto") -> None:
        quiet_by_default()
        if isinstance(spec, str) and spec.startswith(URL_SCHEMES):
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS,
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
            transport = rtsp_transport if spec.startswith(("rtsp://", "rtsps://")) else "auto"
            with _ffmpeg_options, _ffmpeg_transport(transport):
                self._cap = cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)
            self.error = "" if self._cap.isOpened() else unreachable_reason(spec)
        else:
            self._cap = cv2.VideoCapture(spec, backend)
        self.opened = self._cap.isOpened()
        self.fps = (self._cap.get(cv2.CAP_PROP_FPS) or None) if self.opened else None

    def grab(self) -> Grab:
        ok, bgr = self._cap.read()
        return Grab(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) if ok else Grab(None)

    def release(self) -> None:
        self._cap.release()


@contextmanager
def _ffmpeg_transport(transport: str) -> Iterator[None]:
    """``OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;tcp`` (or udp) while one capture opens -- OpenCV reads
    FFmpeg's options from there at open; 'auto' leaves FFmpeg's own choice (and a user's variable) alone."""
    if transport == "auto":
        yield
        return
    before = os.environ.get(FFMPEG_OPTIONS)
    os.environ[FFMPEG_OPTIONS] = f"rtsp_transport;{transport}"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FFMPEG_OPTIONS, None)
        else:
            os.environ[FFMPEG_OPTIONS] = before


def unreachable_reason(url: str) -> str:
    """Why a server's port does not answer, in the operating system's words ('' when it does)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    try:
        port = parts.port or {"http": 80, "https": 443, "rtmp": 1935}.get(parts.scheme, 554)
        with socket.create_connection((parts.hostname, port), timeout=1.0):
            return ""
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def opencv_has_gstreamer() -> bool:
    """Whether this OpenCV build can open GStreamer pipelines itself (pip wheels cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return line.split(":", 1)[1].strip().upper().startswith("YES")
    return False
