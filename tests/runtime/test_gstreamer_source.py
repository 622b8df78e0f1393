"""GStreamer sources through PyGObject's appsink (the pip OpenCV wheel has no GStreamer), and RTSP against a
real server (GStreamer's gst-rtsp-server on loopback, H.264 and H.265) read through ``rtspsrc`` with the
camera's clock from RTCP sender reports."""

from __future__ import annotations

import json
import socket
import time

import pytest

from edgedet.runtime.captures import opencv_has_gstreamer
from edgedet.runtime.gst_capture import PIPELINE_CLOCK, RTCP_CLOCK, GstCapture, rtsp_pipeline
from edgedet.runtime.sources import open_source
from tests.conftest import cli
from tests.runtime.rtsp_server import RtspServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pipeline_source_without_opencv_gstreamer(onnx_model, tmp_path):
    """A videotestsrc pipeline string runs through `edgedet run --source` with the project's own wheel."""
    assert not opencv_has_gstreamer()  # the point: OpenCV cannot open it itself
    pipeline = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=200,height=150,framerate=30/1 ! appsink"
    report = tmp_path / "report.json"
    result = cli("run", onnx_model, "--source", pipeline, "--max-frames", "12", "--report", report)
    assert result.returncode == 0, result.stderr
    source = json.loads(report.read_text())["sources"][0]
    assert source["frames_processed"] == 12 and source["live"]


def test_pipeline_clock_and_odd_width():
    """A live pipeline's frames carry their capture time on the pipeline clock; rows padded to 4 bytes
    (width 201: 603 bytes a row) come out as a plain HxWx3 array."""
    cap = GstCapture("videotestsrc is-live=true ! video/x-raw,width=201,height=50,framerate=30/1")
    try:
        assert cap.opened, cap.error
        grabs = [cap.grab() for _ in range(5)]
    finally:
        cap.release()
    assert all(g.image.shape == (50, 201, 3) for g in grabs)
    ages = [time.time() - g.camera_time for g in grabs]
    assert cap.clock == PIPELINE_CLOCK and all(0 <= a < 0.5 for a in ages), ages


def test_bad_pipeline_is_one_clear_error():
    with pytest.raises(Exception, match="not a pipeline GStreamer can build.*nosuchsrc"):
        open_source("nosuchsrc ! appsink")


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_rtsp_camera_clock(codec):
    """Frames arrive from a real RTSP server; once its first RTCP sender report is in, each frame carries
    the sender's capture time, which is earlier than its arrival (age >= 0: e2e by the camera clock >= e2e by
    arrival)."""
    with RtspServer(free_port(), codec) as server:
        cap = GstCapture(rtsp_pipeline(server.url, "tcp"), url=server.url)
        try:
            assert cap.opened, cap.error
            deadline, stamped = time.monotonic() + 15, []
            while time.monotonic() < deadline and len(stamped) < 20:
                grab = cap.grab()
                assert grab.ok, grab.failure
                if grab.camera_time is not None:
                    stamped.append(time.time() - grab.camera_time)
        finally:
            cap.release()
    assert grab.image.shape == (240, 320, 3)
    assert cap.clock == RTCP_CLOCK and len(stamped) == 20
    assert all(0 <= age < 1.0 for age in stamped), stamped


@pytest.mark.slow
def test_rtsp_server_down_says_why():
    """No server: the capture does not open and says so in the operating system's words."""
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    cap = GstCapture(rtsp_pipeline(url), url=url)
    assert not cap.opened and cap.error == "connection refused"
