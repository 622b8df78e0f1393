"""A GStreamer pipeline read through PyGObject's ``appsink``: GStreamer sources whatever OpenCV wheel is
installed (pip's are built without GStreamer), and RTSP with the camera's own clock.

The user's pipeline (``videotestsrc ! ...``, ``nvarguscamerasrc ! nvvidconv ! ...``) gets a tail that
converts to RGB and ends in one appsink that keeps only the newest buffer; a trailing ``appsink`` of the
user's (OpenCV's convention) is replaced by ours. An ``rtsp://`` URL becomes ``rtspsrc ! decodebin``.

A frame's capture time, where the stream carries one:
- RTSP: ``rtspsrc`` maps each packet's RTP timestamp through the server's RTCP sender reports to the
  sender's NTP wall clock and attaches it as a reference-timestamp meta (``timestamp/x-ntp``), which the
  decoder carries to the decoded frame. Until the first sender report (a few seconds) frames have none.
- A live pipeline (a camera, ``videotestsrc is-live=true``): the buffer's PTS is its capture running time
  on the pipeline clock; its age is the clock's now minus (base time + PTS).
Either gives the wall-clock second the frame was taken, so ``e2e`` includes network and decode delay.
"""

from __future__ import annotations

import time

import numpy as np

from edgedet.runtime import gstreamer
from edgedet.runtime.captures import ARRIVAL, Grab, unreachable_reason

NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01
RTCP_CLOCK = "camera (RTCP sender reports)"
PIPELINE_CLOCK = "pipeline (buffer PTS)"
SINK = "edgedet_sink"
TAIL = f"videoconvert ! video/x-raw,format=RGB ! appsink name={SINK} max-buffers=1 drop=true sync=false"
POLL_S = 0.05
RTSP_LATENCY_MS = 50  # the jitter buffer: enough to reorder UDP packets on a LAN, not 2 s (rtspsrc's default)


def rtsp_pipeline(url: str, transport: str = "auto") -> str:
    """``rtspsrc`` for ``url``: ``transport`` 'tcp', 'udp' or 'auto' (UDP, then TCP, as rtspsrc tries)."""
    protocols = {"tcp": " protocols=tcp", "udp": " protocols=udp", "auto": ""}[transport]
    return (f'rtspsrc location="{url}" latency={RTSP_LATENCY_MS}{protocols} add-reference-timestamp-meta=true '
            "! decodebin")


def with_our_sink(pipeline: str) -> str:
    """The user's pipeline ending in our RGB appsink (a final ``appsink`` element of theirs is dropped)."""
    parts = [p.strip() for p in pipeline.strip().rstrip("!").split("!")]
    if parts and parts[-1].split(" ", 1)[0] == "appsink":
        parts = parts[:-1]
    return " ! ".join([*parts, TAIL])


class GstCapture:
    """A playing pipeline and its appsink. ``opened`` is True once the first frame arrived within the open
    timeout; ``error`` says why not. ``grab`` returns at once on an error or end of stream."""

    def __init__(self, pipeline: str, open_timeout_s: float = 5.0, read_timeout_s: float = 2.0,
                 url: str | None = None) -> None:
        Gst = gstreamer.gst()
        self._gst, self.url, self.read_timeout_s = Gst, url, read_timeout_s
        self.fps: float | None = None
        self.clock = ARRIVAL
        self.error = ""
        self._ntp_caps = Gst.Caps.from_string("timestamp/x-ntp")
        try:
            self._pipeline = Gst.parse_launch(with_our_sink(pipeline))
        except Exception as exc:  # GLib.Error: the pipeline text does not parse or names a missing element
            self._pipeline, self.opened, self.error = None, False, f"not a pipeline GStreamer can build ({exc})"
            return
        self._sink = self._pipeline.get_by_name(SINK)
        self._bus = self._pipeline.get_bus()
        # a live source cannot preroll: PAUSED answers NO_PREROLL, and its buffers carry capture times
        self._live = self._pipeline.set_state(Gst.State.PAUSED) == Gst.StateChangeReturn.NO_PREROLL
        change = self._pipeline.set_state(Gst.State.PLAYING)
        self._pending = self._first(open_timeout_s) if change != Gst.StateChangeReturn.FAILURE else None
        if self._pending is None and not self.error:
            self.error = self._bus_failure() or f"no frame within {open_timeout_s:g} s"
        self.opened = self._pending is not None
        if not self.opened:
            self.release()

    def _first(self, timeout_s: float) -> Grab | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sample = self._sink.emit("try-pull-sample", int(POLL_S * self._gst.SECOND))
            if sample is not None:
                return self._to_grab(sample)
            failure = self._bus_failure()
            if failure:
                self.error = failure
                return None
        return None

    def _bus_failure(self) -> str:
        Gst = self._gst
        msg = self._bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.EOS)
        if msg is None:
            return ""
        if msg.type == Gst.MessageType.EOS:
            return "the stream ended"
        err, _debug = msg.parse_error()
        reason = unreachable_reason(self.url) if self.url else ""
        return reason or err.message.rstrip(".").lower()

    def _to_grab(self, sample) -> Grab:
        Gst = self._gst
        caps = sample.get_caps().get_structure(0)
        width, height = caps.get_value("width"), caps.get_value("height")
        if self.fps is None:
            ok, num, den = caps.get_fraction("framerate")
            self.fps = num / den if ok and den and num else None
        buffer = sample.get_buffer()
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        try:
            stride = mapped.size // height  # rows are padded to 4 bytes
            rows = np.frombuffer(mapped.data, np.uint8, count=stride * height).reshape(height, stride)
            image = np.ascontiguousarray(rows[:, : width * 3].reshape(height, width, 3))
        finally:
            buffer.unmap(mapped)
        return Grab(image, self._camera_time(buffer))

    def _camera_time(self, buffer) -> float | None:
        meta = buffer.get_reference_timestamp_meta(self._ntp_caps)
        if meta is not None:
            self.clock = RTCP_CLOCK
            return meta.timestamp / 1e9 - NTP_UNIX_OFFSET_S
        clock = self._pipeline.get_clock()
        if self.url is None and self._live and clock is not None and buffer.pts != self._gst.CLOCK_TIME_NONE:
            self.clock = PIPELINE_CLOCK
            age_ns = clock.get_time() - (self._pipeline.get_base_time() + buffer.pts)
            return time.time() - age_ns / 1e9
        return None

    def grab(self) -> Grab:
        if self._pending is not None:
            grab, self._pending = self._pending, None
            return grab
        deadline = time.monotonic() + self.read_timeout_s
        while time.monotonic() < deadline:
            failure = self._bus_failure()
            if failure:
                return Grab(None, failure=failure, instant=True)
            sample = self._sink.emit("try-pull-sample", int(POLL_S * self._gst.SECOND))
            if sample is not None:
                return self._to_grab(sample)
        # a server that went away (killed, rebooted) is named as such, not as a silent stream
        gone = unreachable_reason(self.url) if self.url else ""
        return Grab(None, failure=gone or f"no frame for {self.read_timeout_s:g} s")

    def release(self) -> None:
        if self._pipeline is not None:
            self._pipeline.set_state(self._gst.State.NULL)
            self._pipeline = None
