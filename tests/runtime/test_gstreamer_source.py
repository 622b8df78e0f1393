"""GStreamer sources through PyGObject's appsink (the pip OpenCV wheel has no GStreamer), and RTSP against a
real server (GStreamer's gst-rtsp-server on loopback, H.264 and H.265) read through ``rtspsrc`` with the
camera's clock from RTCP sender reports. Every check runs in a fresh interpreter (``gst_checks``: GStreamer's
libraries must not load into a test worker that also exports with torch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgedet.runtime.captures import opencv_has_gstreamer
from edgedet.runtime.gst_capture import PIPELINE_CLOCK, RTCP_CLOCK
from tests.conftest import ROOT, assert_one_line_error, run_cli


def check(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.runtime.gst_checks", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pipeline_source_without_opencv_gstreamer(onnx_model, tmp_path):
    """A videotestsrc pipeline string runs through `edgedet run --source` with the project's own wheel."""
    assert not opencv_has_gstreamer()  # the point: OpenCV cannot open it itself
    pipeline = "videotestsrc is-live=true pattern=ball ! video/x-raw,width=200,height=150,framerate=30/1 ! appsink"
    report = tmp_path / "report.json"
    result = run_cli("run", onnx_model, "--source", pipeline, "--max-frames", "12", "--report", report)
    assert result.returncode == 0, result.stderr
    source = json.loads(report.read_text())["sources"][0]
    assert source["frames_processed"] == 12 and source["live"]
    bad = run_cli("run", onnx_model, "--source", "nosuchsrc ! appsink", "--max-frames", "1")
    assert_one_line_error(bad, "not a pipeline GStreamer can build", "nosuchsrc")


def test_pipeline_clock_and_odd_width():
    """A live pipeline's frames carry their capture time on the pipeline clock; rows padded to 4 bytes
    (width 201: 603 bytes a row) come out as a plain HxWx3 array."""
    got = check("pipeline-clock")
    assert got["opened"], got["error"]
    assert got["shapes"] == [[50, 201, 3]] * 5
    assert got["clock"] == PIPELINE_CLOCK and all(0 <= a < 0.5 for a in got["ages"]), got


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_rtsp_camera_clock(codec):
    """Frames arrive from a real RTSP server; once its first RTCP sender report is in, each frame carries
    the sender's capture time, earlier than its arrival (age >= 0: e2e by the camera clock >= e2e by
    arrival)."""
    got = check("rtsp-clock", codec)
    assert got["opened"], got["error"]
    assert got["shape"] == [240, 320, 3] and not got["failures"], got
    assert got["clock"] == RTCP_CLOCK and len(got["ages"]) == 20
    assert all(0 <= age < 1.0 for age in got["ages"]), got["ages"]


@pytest.mark.slow
def test_rtsp_server_down_says_why():
    """No server: the capture does not open and says so in the operating system's words."""
    got = check("rtsp-down")
    assert not got["opened"] and got["error"] == "connection refused"
