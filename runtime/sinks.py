"""Where results go: annotated video, JSON Lines, a window, an MJPEG preview over HTTP.

Files are written beside their destination and renamed on ``close``, which the pipeline
calls on every exit path (end of input, Ctrl-C, SIGTERM), so a stopped run leaves a
playable video and a complete JSON Lines file, never a truncated one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edgedet.runtime.analytics import Analytics, Event
from edgedet.runtime.annotate import annotate
from edgedet.runtime.atomic import PendingFile
from edgedet.runtime.detections import Detections
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import Frame
from edgedet.runtime.letterbox import letterbox
from edgedet.runtime.trails import Trails

log = logging.getLogger("edgedet.sinks")


class Sink(ABC):
    """Consumes processed frames. A sink may ask the stream to stop (``stop_requested``): the
    pipeline then finishes cleanly, closing every sink and the source."""

    wants_annotated = False
    needs_pixels = True  # write() reads the frame's pixels (a remote worker sends them only then)

    @abstractmethod
    def write(self, frame: Frame, detections: Detections, annotated: np.ndarray | None) -> None:
        """Consume one processed frame (``annotated`` is set when any sink wants drawings)."""

    def write_events(self, frame: Frame, events: Sequence[Event]) -> None:  # noqa: B027  (optional hook)
        """Consume the line and zone events of the frame just written (only a JSON Lines file keeps them)."""

    @property
    def stop_requested(self) -> bool:
        return False

    def close(self) -> None:  # noqa: B027  (optional hook: most sinks hold nothing to release)
        pass


class VideoSink(Sink):
    wants_annotated = True
    CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}

    def __init__(self, path: str | Path, fps: float | None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in self.CODECS:
            raise EdgedetError(f"cannot write video '{path}': use a .mp4, .m4v, .avi or .mkv file name")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = PendingFile(self.path)
        self._writer: cv2.VideoWriter | None = None
        self.adopt_fps(fps)
        self.frames = 0

    def adopt_fps(self, fps: float | None) -> None:
        """The source's frame rate (30 when it names none or an absurd one); before the first frame
        only, e.g. once a remote worker has opened the source."""
        if self._writer is None:
            self.fps = fps if fps and 1 <= fps <= 240 else 30.0

    def write(self, frame, detections, annotated) -> None:
        image = annotated if annotated is not None else frame.image
        if self._writer is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*self.CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._file.tmp), fourcc, self.fps, (w, h))
            self._size, self._refitted = (h, w), False
            if not self._writer.isOpened():
                raise EdgedetError(f"cannot write video '{self.path}'")
        if image.shape[:2] != self._size:  # the camera changed resolution: fitted, not dropped by OpenCV
            if not self._refitted:
                log.warning("video %s: the source's frames changed from %dx%d to %dx%d; fitted into the first size",
                            self.path, self._size[1], self._size[0], image.shape[1], image.shape[0])
                self._refitted = True
            image = letterbox(image, self._size)[0]
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            self._file.commit()
        else:  # no frame came: no video
            self._file.discard()


def frame_record(frame: Frame, detections: Detections) -> dict:
    """A processed frame as JSON Lines (and the service's event feed) write it."""
    return {"frame": frame.index, "captured": round(frame.captured, 6), "media_time_s": frame.source_time_s,
            "height": frame.image.shape[0], "width": frame.image.shape[1], "detections": detections.to_records()}


class JsonlSink(Sink):
    """One JSON object per frame, and one per line or zone event (``{"event": ...}``, after its frame's
    line). Several streams share one file through ``for_source`` views, whose lines carry a ``source``
    field; the file itself is committed when this sink closes."""

    needs_pixels = False  # a frame's size, index and time, never its pixels

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = PendingFile(self.path)
        self._fh = open(self._file.tmp, "w")
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, frame, detections, annotated, source: str | None = None) -> None:
        self._put([frame_record(frame, detections)], source)

    def write_events(self, frame, events, source: str | None = None) -> None:
        self._put([event.to_json() for event in events], source)

    def _put(self, records: list[dict], source: str | None) -> None:
        text = "".join(json.dumps(r if source is None else {"source": source, **r}) + "\n" for r in records)
        with self._lock:
            self._fh.write(text)
            self.lines += len(records)

    def for_source(self, name: str) -> Sink:
        return _JsonlView(self, name)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
            self._file.commit()


class _JsonlView(Sink):
    """One stream's lines in a shared JSON Lines file (closing a view leaves the file open)."""

    needs_pixels = False

    def __init__(self, owner: JsonlSink, source: str) -> None:
        self.owner, self.source = owner, source

    def write(self, frame, detections, annotated) -> None:
        self.owner.write(frame, detections, annotated, source=self.source)

    def write_events(self, frame, events) -> None:
        self.owner.write_events(frame, events, source=self.source)


def window_problem() -> str | None:
    """Why no window can open here, or None. The OpenCV edgedet installs is headless on purpose (a GUI
    wheel beside it breaks both), so on most installs this says so rather than naming another wheel."""
    gui = [ln for ln in cv2.getBuildInformation().splitlines() if ln.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        return "this install's OpenCV is headless (no window support)"
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name == "nt"):
        return "there is no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


class WindowSink(Sink):
    wants_annotated = True

    def __init__(self, title: str = "edgedet") -> None:
        problem = window_problem()
        if problem is not None:
            raise EdgedetError(f"{problem}; the MJPEG preview server works anywhere, in a browser")
        self.title = title
        self._closed_by_user = False

    @property
    def stop_requested(self) -> bool:
        """The user pressed q or Esc in the window."""
        return self._closed_by_user

    def write(self, frame, detections, annotated) -> None:
        cv2.imshow(self.title, cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
            self._closed_by_user = True

    def close(self) -> None:
        cv2.destroyAllWindows()


def annotated_if_needed(sinks: list[Sink], frame: Frame, detections: Detections, trails: Trails | None = None,
                        analytics: Analytics | None = None) -> np.ndarray | None:
    if not any(s.wants_annotated for s in sinks):
        return None
    out = annotate(frame.image, detections, trails=trails)
    if analytics is not None:
        analytics.draw(out)
    return out


def write_to_sinks(sinks: list[Sink], frame: Frame, detections: Detections, trails: Trails | None = None,
                   analytics: Analytics | None = None) -> None:
    """The sink fan-out, the same for a local run and the Ray driver: the stream's line and zone
    ``analytics`` see the frame (in order, once), the frame is drawn once if any sink shows pixels (tracked
    detections with their stream's ``trails``, which this frame extends, and the lines and zones with their
    counts), then every sink in order gets the frame and then its events."""
    if trails is not None:
        trails.add(detections)
    events = analytics.update(frame, detections) if analytics is not None else []
    annotated = annotated_if_needed(sinks, frame, detections, trails, analytics)
    for sink in sinks:
        sink.write(frame, detections, annotated)
        if events:
            sink.write_events(frame, events)
