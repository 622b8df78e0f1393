"""The streaming runtime: lossless files, newest-frame live streams, reconnects, clean stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from edgedet.runtime.engine import Stream, StreamOptions, run_engine
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.preview_server import MjpegServer
from edgedet.runtime.sinks import JsonlSink, VideoSink
from edgedet.runtime.sources import ImageFolderSource, LiveSource, VideoFileSource, open_source
from tests.runtime.conftest import assert_valid_report, count_video_frames, frames_from

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgedet.cli.app", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, **kw)


def test_video_file_in_same_frames_out(onnx_model, video_file, tmp_path):
    path, n = video_file
    det = OnnxDetector(onnx_model)
    report = run_engine(det, [Stream("v", VideoFileSource(str(path)),
                                     [VideoSink(tmp_path / "out.mp4", 30), JsonlSink(tmp_path / "dets.jsonl")])],
                        StreamOptions(conf=0.05)).to_json()
    assert report["frames_in"] == report["frames_processed"] == n and report["frames_dropped"] == 0
    assert_valid_report(report)  # one source: the same shape as many, a list of one
    assert [s["name"] for s in report["sources"]] == ["v"] and report["sources"][0]["frames_processed"] == n
    assert count_video_frames(tmp_path / "out.mp4") == n
    lines = [json.loads(x) for x in (tmp_path / "dets.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(n))
    assert all(set(x) >= {"frame", "captured", "detections"} for x in lines)
    for key in ("e2e_ms", "frame_age_ms"):
        assert set(report[key]) >= {"p50", "p90", "p99", "max"}
    assert set(report["stages_ms"]) == {"read", "preprocess", "inference", "postprocess", "sink"}
    assert report["stages_ms"]["inference"]["count"] == n
    assert not list(tmp_path.glob(".*partial*"))


def test_image_folder_is_lossless_and_ordered(onnx_model, tmp_path):
    import cv2

    for i, f in enumerate(frames_from(onnx_model, 5)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), f)
    src = open_source(str(tmp_path))
    assert isinstance(src, ImageFolderSource)
    assert [f.index for f in src] == list(range(5))


class SlowDetector(OnnxDetector):
    """A real detector that sleeps inside inference: a model that cannot keep up at 30 fps."""

    def __init__(self, path: Path, delay_s: float) -> None:
        super().__init__(path)
        self.delay_s = delay_s

    def _infer(self, batch):
        time.sleep(self.delay_s)
        return super()._infer(batch)


def publish_at(server: MjpegServer, frames, fps: float, stop: threading.Event) -> threading.Thread:
    def loop():
        i = 0
        while not stop.is_set():
            server.publish(frames[i % len(frames)])
            i += 1
            stop.wait(1 / fps)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


@pytest.mark.slow
def test_live_mjpeg_drops_frames_and_age_stays_bounded(onnx_model):
    frames = frames_from(onnx_model, 8)
    server = MjpegServer("127.0.0.1", 0)
    stop = threading.Event()
    publish_at(server, frames, 30, stop)
    time.sleep(0.3)
    try:
        src = LiveSource(f"http://127.0.0.1:{server.address[1]}/stream.mjpg")
        det = SlowDetector(onnx_model, 0.1)
        report = run_engine(det, [Stream("cam", src)], StreamOptions(conf=0.05, duration_s=6)).to_json()
    finally:
        stop.set()
        server.close()
    assert report["frames_processed"] >= 20
    assert report["frames_dropped"] > report["frames_processed"] // 2  # ~30 fps in, <10 fps out
    assert report["frames_in"] >= report["frames_processed"] + report["frames_dropped"] - 1
    assert report["frame_age_ms"]["p99"] < 3 * report["stages_ms"]["inference"]["p99"]


@pytest.mark.slow
def test_stream_that_goes_away_is_reopened(onnx_model):
    frames = frames_from(onnx_model, 4)
    server = MjpegServer("127.0.0.1", 0)
    port = server.address[1]
    stop = threading.Event()
    publish_at(server, frames, 20, stop)
    time.sleep(0.3)  # let the server publish its first frames
    src = LiveSource(f"http://127.0.0.1:{port}/stream.mjpg", max_backoff_s=0.5)
    try:
        deadline = time.monotonic() + 10
        while src.frames_in < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = src.frames_in
        stop.set()
        server.close()  # the camera goes away
        time.sleep(1.5)
        server2 = MjpegServer("127.0.0.1", port)  # ... and comes back on the same address
        stop2 = threading.Event()
        publish_at(server2, frames, 20, stop2)
        deadline = time.monotonic() + 20
        while src.frames_in < before + 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        stop2.set()
        server2.close()
        assert src.outages >= 1
        assert src.frames_in >= before + 5
    finally:
        src.close()


def test_sigint_leaves_playable_video_and_complete_report(onnx_model, tmp_path):
    import cv2

    path = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for f in frames_from(onnx_model, 600):
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    out, jsonl, report = tmp_path / "out.mp4", tmp_path / "d.jsonl", tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "edgedet.cli.app", "run", str(onnx_model), "--source", str(path),
                             "--save", str(out), "--jsonl", str(jsonl), "--report", str(report)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        partial = list(tmp_path.glob(".d.*partial*"))
        if partial and partial[0].stat().st_size > 2000:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    rep = json.loads(report.read_text())
    n = rep["frames_processed"]
    assert 0 < n < 600
    assert count_video_frames(out) == n
    assert len(jsonl.read_text().splitlines()) == n


@pytest.mark.parametrize(
    ("source", "needle"),
    [("missing.mp4", "is not a camera index"), ("99", "cannot open camera '99'"),
     ("http://127.0.0.1:9/stream.mjpg", "cannot open stream")],
)
def test_bad_sources_fail_with_one_line(onnx_model, source, needle):
    r = cli("run", onnx_model, "--source", source, "--max-frames", "1")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = [x for x in r.stderr.strip().splitlines() if x.strip() and "WARN" not in x and "[ WARN" not in x]
    assert lines and lines[-1].startswith("error: ") and needle in lines[-1], r.stderr


def test_show_without_a_gui_points_to_the_browser_preview(onnx_model, tmp_path, monkeypatch):
    """The OpenCV wheel edgedet installs is headless (OpenCV's own build information says so), and a box
    may have no display: --show says which, and what works instead, before anything opens."""
    import cv2

    headless = any(line.split(":", 1)[1].strip().upper() == "NONE"
                   for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:"))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = cli("run", onnx_model, "--source", tmp_path / "none.mp4", "--show", "--report", tmp_path / "r.json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert line.startswith("error: --show cannot open a window") and "--serve 127.0.0.1:8090" in line, line
    assert ("headless" if headless else "no display") in line and not (tmp_path / "r.json").exists()


def test_mjpeg_preview_serves_page_and_frames(onnx_model):
    server = MjpegServer("127.0.0.1", 0)
    stop = threading.Event()
    publish_at(server, frames_from(onnx_model, 2), 30, stop)
    try:
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert "/stream.mjpg" in page
        with urllib.request.urlopen(server.url + "stream.mjpg", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            data = resp.read(60000)
        assert data.count(b"\xff\xd8") >= 2  # at least two JPEG frames
    finally:
        stop.set()
        server.close()


@pytest.mark.slow
def test_cli_run_writes_report_and_profile(onnx_model, video_file, tmp_path):
    path, n = video_file
    r = cli("run", onnx_model, "--source", path, "--report", tmp_path / "r.json", "--jsonl", tmp_path / "d.jsonl",
            "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["frames_processed"] == n
    assert set(rep) >= {"frames_in", "frames_processed", "frames_dropped", "fps", "e2e_ms", "stages_ms", "host"}
    r = cli("profile", onnx_model, "--iters", "5", "--warmup", "1", "--report", tmp_path / "p.json", "--plot",
            tmp_path / "h.png")
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "p.json").read_text())
    assert {"avx512", "vnni", "bf16", "amx"} <= set(saved["host"]["cpu"])
    prof = saved["results"][0]
    assert prof["inference_ms"]["count"] == 5
    stages = prof["operators"]["stages"]
    try:
        import onnx  # noqa: F401  (graph-based grouping needs it; the bare install groups by node name)

        assert {"backbone", "rpn", "roi_head", "nms", "roi_align"} <= set(stages)
    except ImportError:
        assert {"nms", "roi_align"} <= set(stages)
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_runtime_never_imports_torch():
    modules = ["edgedet.runtime", "edgedet.runtime.engine", "edgedet.runtime.sources", "edgedet.runtime.sinks",
               "edgedet.runtime.profiling", "edgedet.runtime.onnx_detector", "edgedet.runtime.loader",
               "edgedet.cli.app"]
    code = f"import sys, {', '.join(modules)}; assert 'torch' not in sys.modules and 'onnx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ})


def test_overhead_is_measured(onnx_model):
    from edgedet.runtime.profiling import profile_stages

    det = OnnxDetector(onnx_model)
    r = profile_stages(det, frames_from(onnx_model, 2), 1, 10, 2)
    assert r["inference_ms"]["p50"] > 0 and r["overhead_pct_of_inference"] > 0
    assert np.isfinite(r["throughput_fps"])
