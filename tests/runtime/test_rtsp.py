"""`edgedet run` against a real RTSP server (GStreamer's gst-rtsp-server on loopback, ``rtsp_server``): a server
restarted twice, one gone for good, one that hangs with its connection open, a picture that changes size
mid-stream, an ``rtspsrc`` pipeline string, and OpenCV's FFmpeg carrying RTSP over TCP. Every run is a real
``edgedet`` process (GStreamer must not load into a test worker that exports with torch: ``gst_checks``);
stderr is read line by line as it comes, so the tests know when the run saw what the server did."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import cv2
import pytest

from edgedet.runtime.gst_capture import PIPELINE_CLOCK, RTCP_CLOCK
from tests.conftest import ROOT, free_port, run_cli
from tests.runtime.conftest import count_video_frames
from tests.runtime.rtsp_server import RtspServer

pytestmark = pytest.mark.slow

OURS = re.compile(r"stream cam \(rtsp://127\.0\.0\.1:\d+/cam\) (lost: [^;]+; retrying in [\d.]+ s \(attempt 1\)"
                  r"|still down: [^;]+; retrying in [\d.]+ s \(attempt \d+\)|back after [\d.]+ s \(attempt \d+\)"
                  r"|gave up after [\d.]+ s down \(\d+ attempts\): .+)")
SUMMARY = re.compile(r"\d+ frames \(\d+ dropped\) at [\d.]+ fps; e2e p50 .*")


class LiveRun:
    """``edgedet run`` in its own process, its stderr lines kept with the second each arrived."""

    def __init__(self, *args: str) -> None:
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "edgedet.cli.app", "run", *map(str, args)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "COLUMNS": "300"})  # the summary on one line
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.monotonic() - self.t0, line.rstrip("\n")))

    def wait_for(self, text: str, count: int = 1, timeout: float = 30) -> float:
        """The second the ``count``-th line holding ``text`` came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [t for t, line in self.lines if text in line]
            if len(hits) >= count:
                return hits[count - 1]
            assert self.proc.poll() is None or len(hits) >= count, f"the run ended: {self.text()}"
            time.sleep(0.05)
        raise AssertionError(f"no {count} line(s) with '{text}' in {timeout} s: {self.text()}")

    def stop(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGINT)  # a clean end: sinks closed, report written
        return self.end(timeout)

    def end(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def now(self) -> float:
        return time.monotonic() - self.t0


def only_ours(run: LiveRun) -> list[str]:
    """Our outage lines, in order; anything else on stderr but the run's summary fails the test."""
    lines = [line for _, line in run.lines]
    strangers = [line for line in lines if not OURS.fullmatch(line) and not SUMMARY.fullmatch(line)]
    assert not strangers, f"lines that are not ours: {strangers}"
    return [OURS.fullmatch(line).group(1).split()[0] for line in lines if OURS.fullmatch(line)]


def test_restarted_twice_only_our_lines_and_the_camera_clock(onnx_model, tmp_path):
    """Two server restarts: two outages, the stream resumed each time, stderr holds our lines and the
    summary only; the report says the camera clock timed e2e, and e2e by it is at least e2e by arrival."""
    report = tmp_path / "report.json"
    with RtspServer() as server:
        run = LiveRun(onnx_model, "--source", server.url, "--rtsp-transport", "tcp", "--report", report)
        time.sleep(6)
        server.restart(pause_s=1.0)
        run.wait_for("back after", 1)
        time.sleep(4)
        server.restart(pause_s=0.2)
        run.wait_for("back after", 2)
        time.sleep(2)
        assert run.stop() == 0, run.text()
    said = [word for word in only_ours(run) if word != "still"]
    assert said == ["lost:", "back", "lost:", "back"], run.text()
    source = json.loads(report.read_text())["sources"][0]
    assert source["outages"] == 2 and not source["gave_up"] and source["frames_processed"] > 100
    assert source["clock"] == RTCP_CLOCK
    camera, arrival = source["e2e_ms"], source["e2e_arrival_ms"]
    assert camera["count"] == arrival["count"] == source["frames_processed"]
    assert all(camera[k] >= arrival[k] for k in ("p50", "p90", "p99", "max", "mean")), (camera, arrival)


def test_gone_for_good_gives_up(onnx_model, tmp_path):
    """The server stops for good: the run says so, gives up after --give-up-after and ends by itself."""
    report = tmp_path / "report.json"
    server = RtspServer().start()
    run = LiveRun(onnx_model, "--source", server.url, "--give-up-after", "3", "--report", report)
    time.sleep(5)
    server.stop()
    stopped = run.now()
    assert run.end(timeout=40) == 0, run.text()
    gave_up = run.wait_for("gave up after", timeout=1)
    assert gave_up - stopped < 2 + 3 + 6  # the stall timeout, the give-up time, one last open's timeout
    assert only_ours(run)[0] == "lost:" and "connection refused" in run.text()
    assert "gave up on cam" in run.lines[-1][1]
    source = json.loads(report.read_text())["sources"][0]
    assert source["gave_up"] and source["outages"] == 1


def test_a_hung_server_is_lost_within_the_stall_timeout(onnx_model, tmp_path):
    """SIGSTOP: the connection stays open and nothing comes; the stream is lost within --stall-timeout
    (plus one frame interval), and back once the server runs again."""
    report = tmp_path / "report.json"
    with RtspServer() as server:
        run = LiveRun(onnx_model, "--source", server.url, "--stall-timeout", "1", "--report", report)
        time.sleep(6)
        server.freeze()
        frozen = run.now()
        lost = run.wait_for("lost: no frame for 1 s", timeout=10)
        server.thaw()
        run.wait_for("back after", timeout=30)
        assert run.stop() == 0, run.text()
    assert 0.9 <= lost - frozen <= 1.8, (frozen, lost, run.text())
    only_ours(run)
    assert json.loads(report.read_text())["sources"][0]["outages"] == 1


@pytest.mark.parametrize(("codec", "transport"), [("h264", "udp"), ("h265", "tcp")])
def test_a_resolution_change_mid_stream(onnx_model, tmp_path, codec, transport):
    """The camera goes from 320x240 to 480x360: every frame of both sizes is detected on (each letterboxed
    at its own scale: boxes inside its own frame), and the saved video keeps every frame, fitted into its
    first size."""
    jsonl, video = tmp_path / "d.jsonl", tmp_path / "out.mp4"
    with RtspServer(codec=codec) as server:
        run = LiveRun(onnx_model, "--source", server.url, "--rtsp-transport", transport, "--conf", "0.01",
                      "--jsonl", jsonl, "--save", video)
        time.sleep(6)
        server.resize("480x360")
        time.sleep(4)
        assert run.stop() == 0, run.text()
    frames = [json.loads(line) for line in jsonl.read_text().splitlines()]
    sizes = [(f["width"], f["height"]) for f in frames]
    first_big = sizes.index((480, 360))
    assert set(sizes[:first_big]) == {(320, 240)} and set(sizes[first_big:]) == {(480, 360)}
    assert first_big > 20 and len(sizes) - first_big > 20
    boxes = [(d["box"], f["width"], f["height"]) for f in frames for d in f["detections"]]
    assert boxes and all(0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h for (x1, y1, x2, y2), w, h in boxes)
    assert count_video_frames(video) == len(frames)
    cap = cv2.VideoCapture(str(video))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)
    cap.release()
    assert "changed from 320x240 to 480x360" in run.text()


def test_an_rtspsrc_pipeline_string(onnx_model, tmp_path):
    """A user's own rtspsrc pipeline (a Jetson user's, with their decoder) runs through our appsink."""
    report = tmp_path / "report.json"
    with RtspServer() as server:
        pipeline = f"rtspsrc location={server.url} latency=50 protocols=tcp ! decodebin ! videoconvert ! appsink"
        done = run_cli("run", onnx_model, "--source", pipeline, "--max-frames", "15", "--report", report)
    assert done.returncode == 0, done.stderr
    source = json.loads(report.read_text())["sources"][0]
    assert source["live"] and source["frames_processed"] == 15
    assert source["clock"] in (PIPELINE_CLOCK, RTCP_CLOCK)


def test_ffmpeg_carries_rtsp_over_tcp():
    """Without GStreamer's bindings RTSP goes through OpenCV's FFmpeg: --rtsp-transport tcp reaches it
    through OPENCV_FFMPEG_CAPTURE_OPTIONS while the capture opens (and is not left set); arrival clock."""
    from edgedet.runtime.captures import ARRIVAL
    from edgedet.runtime.sources import LiveOptions, LiveSource

    before = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
    with RtspServer() as server:
        source = LiveSource(server.url, options=LiveOptions(rtsp_transport="tcp"))  # OpenCV, not GStreamer
        try:
            frames = [source.read(timeout=5) for _ in range(5)]
        finally:
            source.close()
    assert all(f is not None and f.image.shape == (240, 320, 3) for f in frames)
    assert source.clock == ARRIVAL and source.outages == 0
    assert os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS") == before


def test_verbose_brings_the_library_lines_back(onnx_model):
    """A stream nobody serves: one line of ours by default; --verbose lets OpenCV's and FFmpeg's own through."""
    url = f"http://127.0.0.1:{free_port()}/stream.mjpg"  # OpenCV's FFmpeg, whatever GStreamer there is
    quiet = run_cli("run", onnx_model, "--source", url, "--max-frames", "1")
    assert quiet.returncode == 2 and quiet.stderr.strip().splitlines() == [
        f"error: cannot open stream '{url}': connection refused"], quiet.stderr
    loud = run_cli("run", onnx_model, "--source", url, "--max-frames", "1", "--verbose")
    assert loud.returncode == 2 and ("VIDEOIO(FFMPEG)" in loud.stderr or "[tcp @" in loud.stderr), loud.stderr
