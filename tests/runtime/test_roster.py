"""Streams join and leave a running engine (``Roster``: what ``edgedet serve``'s /v1/streams stands on) while
a camera goes on: the camera's output never pauses for a second, a file that joins is still read whole and
in order, a camera that leaves is closed at once, and the report has every stream the run had."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edgedet.runtime.engine import Stream, StreamOptions, StreamState, run_engine
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import now
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.preview_server import MjpegServer
from edgedet.runtime.roster import Roster
from edgedet.runtime.sinks import JsonlSink, Sink
from edgedet.runtime.sources import LiveSource, VideoFileSource
from tests.runtime.conftest import assert_valid_report, frames_from
from tests.runtime.test_streaming import publish_at


class WriteTimes(Sink):
    """When each of a stream's frames reached its sinks."""

    needs_pixels = False

    def __init__(self) -> None:
        self.times: list[float] = []

    def write(self, frame, detections, annotated) -> None:
        self.times.append(now())


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_streams_join_and_leave_while_a_camera_runs(onnx_model, video_file, tmp_path):
    path, count = video_file
    server = MjpegServer("127.0.0.1", 0)
    stop = threading.Event()
    publish_at(server, frames_from(onnx_model, 6), 25, stop)
    url = f"http://127.0.0.1:{server.address[1]}/stream.mjpg"
    roster, state, cam_times = Roster(), StreamState(), WriteTimes()
    roster.add(Stream("cam", LiveSource(url), [cam_times]))
    result = {}
    engine = threading.Thread(target=lambda: result.update(report=run_engine(
        OnnxDetector(onnx_model), [], StreamOptions(conf=0.05), state=state, roster=roster)))
    engine.start()
    try:
        wait_until(lambda: len(cam_times.times) >= 10)
        clip = Stream("clip", VideoFileSource(str(path)), [JsonlSink(tmp_path / "clip.jsonl")])
        cam2 = Stream("cam2", LiveSource(url), [WriteTimes()])
        roster.add(clip)
        roster.add(cam2)
        with pytest.raises(EdgedetError, match="'cam2' is running already"):
            roster.add(Stream("cam2", VideoFileSource(str(path))))
        wait_until(lambda: clip.processed == count and cam2.processed >= 10)
        assert roster.remove("cam2") is cam2
        wait_until(lambda: cam2.closed, timeout=5)
        left_at = cam2.processed
        with pytest.raises(EdgedetError, match="no stream named 'cam2'"):
            roster.remove("cam2")
        marks = len(cam_times.times)
        wait_until(lambda: len(cam_times.times) >= marks + 10)
        assert cam2.processed == left_at  # nothing after it left
    finally:
        state.stop.set()
        engine.join(30)
        stop.set()
        server.close()
    gaps = [b - a for a, b in zip(cam_times.times, cam_times.times[1:])]
    assert max(gaps) < 1.0, max(gaps)  # the camera never paused while the others came and went
    rows = [json.loads(line) for line in (tmp_path / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(count))  # a file that joined: whole, in order
    report = result["report"].to_json()
    assert [s["name"] for s in report["sources"]] == ["cam", "clip", "cam2"]
    assert_valid_report(report)
