"""Many streams through one model: files lossless and in order per source, live MJPEG cameras served
fairly in batched inference calls, a dead camera never holding the others up."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from edgedet.runtime.engine import Stream, StreamOptions, run_engine
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.preview_server import MjpegServer
from edgedet.runtime.sinks import JsonlSink
from edgedet.runtime.sources import LiveSource, VideoFileSource
from tests.runtime.conftest import assert_valid_report, count_video_frames, frames_from
from tests.runtime.test_streaming import publish_at

ROOT = Path(__file__).resolve().parents[2]


def write_video(path: Path, frames) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_three_files_every_frame_once_in_order(onnx_model, tmp_path):
    counts = {"north": 9, "south": 17, "gate": 5}
    frames = frames_from(onnx_model, 17)
    videos = {name: write_video(tmp_path / f"{name}.avi", frames[:n]) for name, n in counts.items()}
    out = tmp_path / "out"
    args = [sys.executable, "-m", "edgedet.cli.app", "run", str(onnx_model)]
    for video in videos.values():
        args += ["--source", str(video)]
    args += ["--save", str(out / "{source}.mp4"), "--jsonl", str(out / "all.jsonl"), "--report", str(out / "r.json"),
             "--conf", "0.05", "--batch", "2"]
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in (out / "all.jsonl").read_text().splitlines()]
    for name, n in counts.items():
        assert [x["frame"] for x in lines if x["source"] == name] == list(range(n)), name
        assert count_video_frames(out / f"{name}.mp4") == n
    assert len(lines) == sum(counts.values())
    report = json.loads((out / "r.json").read_text())
    assert_valid_report(report)
    per = {s["name"]: s for s in report["sources"]}
    assert {k: per[k]["frames_processed"] for k in counts} == counts
    assert report["frames_processed"] == report["frames_in"] == sum(counts.values())
    assert report["batch_size"]["max"] == 2 and report["stages_ms"]["inference"]["count"] < sum(counts.values())
    assert set(per["gate"]["e2e_ms"]) >= {"p50", "p90", "p99", "max"}
    assert not list(out.glob(".*partial*"))


def test_save_without_source_placeholder_is_refused(onnx_model, tmp_path):
    frames = frames_from(onnx_model, 2)
    a, b = write_video(tmp_path / "a.avi", frames), write_video(tmp_path / "b.avi", frames)
    r = subprocess.run([sys.executable, "-m", "edgedet.cli.app", "run", str(onnx_model), "-s", str(a), "-s", str(b),
                        "--save", str(tmp_path / "out.mp4")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "{source}" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.mp4").exists()


@pytest.mark.slow
def test_four_live_cameras_are_served_fairly_and_a_dead_one_blocks_nobody(onnx_model):
    frames = frames_from(onnx_model, 8)
    servers, stops = [], []
    for _ in range(5):
        server, stop = MjpegServer("127.0.0.1", 0), threading.Event()
        servers.append(server)
        stops.append(stop)
    for server, stop in zip(servers, stops):  # five cameras at 30 fps ...
        publish_at(server, frames, 30, stop)
    time.sleep(0.3)
    threading.Timer(1.5, stops[4].set).start()  # ... the fifth goes silent after 1.5 s (its server stays up)
    streams = [Stream(f"cam{i}", LiveSource(f"http://127.0.0.1:{s.address[1]}/stream.mjpg")) for i, s in
               enumerate(servers)]
    try:
        with OnnxDetector(onnx_model, threads=2) as det:
            report = run_engine(det, streams, StreamOptions(conf=0.05, duration_s=6), batch=4).to_json()
    finally:
        for server, stop in zip(servers, stops):
            stop.set()
            server.close()
    per = {s["name"]: s for s in report["sources"]}
    served = [per[f"cam{i}"]["frames_processed"] for i in range(4)]
    assert min(served) >= max(served) / 2 and min(served) >= 20, served  # none starves
    assert per["cam4"]["frames_processed"] < min(served) / 2  # the silent camera: few frames, nobody waited for it
    assert per["cam4"]["outages"] >= 1
    for i in range(4):  # every frame that arrived was processed or counted as dropped (the last may sit in its slot)
        cam = per[f"cam{i}"]
        assert cam["frames_in"] - cam["frames_processed"] - cam["frames_dropped"] in (0, 1), cam
    assert sum(s["frames_dropped"] for s in report["sources"]) == report["frames_dropped"]
    inference_p99 = report["stages_ms"]["inference"]["p99"]
    for i in range(4):
        assert per[f"cam{i}"]["e2e_ms"]["p99"] <= 3 * inference_p99 + 30, (per[f"cam{i}"], inference_p99)
    assert report["batch_size"]["max"] <= 4 and report["batch_size"]["mean"] > 1


def test_grid_preview_shows_every_stream_in_its_tile(onnx_model):
    import urllib.request

    import numpy as np

    from edgedet.runtime.grid import GridPreview

    server = MjpegServer("127.0.0.1", 0)
    try:
        grid = GridPreview(server, ["red", "green", "blue"], tile=(90, 160), max_fps=1e9)  # publish every update
        colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
        views = {name: grid.for_source(name) for name in colours}
        for name, rgb in colours.items():
            views[name].write(None, None, np.full((120, 160, 3), rgb, np.uint8))
        with urllib.request.urlopen(server.url + "stream.mjpg", timeout=5) as resp:  # the newest frame first
            line = b""
            while not line.startswith(b"Content-Length:"):
                line = resp.readline()
            size = int(line.split(b":")[1])
            resp.readline()
            jpeg = np.frombuffer(resp.read(size), np.uint8)
    finally:
        server.close()
    picture = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert picture.shape == (2 * 90, 2 * 160, 3)  # three streams: a 2 x 2 grid
    for (r, c), rgb in zip([(0, 0), (0, 1), (1, 0)], colours.values()):
        tile = picture[r * 90 + 40:r * 90 + 85, c * 160 + 10:c * 160 + 110].reshape(-1, 3).mean(0)  # below the label
        assert np.allclose(tile, rgb, atol=30), (r, c, tile)
    assert picture[90 + 40:, 160 + 10:].mean() < 10  # the fourth tile is empty


def test_parallel_batches_write_what_one_at_a_time_writes(onnx_model, tmp_path):
    """Two batches inferred at once (two inference threads, one session) give every stream's frames in order
    and the same detections as one batch at a time, on the same files."""
    counts = {"north": 9, "south": 14, "gate": 5}
    frames = frames_from(onnx_model, 14)
    videos = {name: write_video(tmp_path / f"{name}.avi", frames[:n]) for name, n in counts.items()}
    written = {}
    for parallel in (1, 2):
        log = JsonlSink(tmp_path / f"p{parallel}.jsonl")
        streams = [Stream(name, VideoFileSource(str(path)), [log.for_source(name)]) for name, path in videos.items()]
        with OnnxDetector(onnx_model, threads=1) as det:
            report = run_engine(det, streams, StreamOptions(conf=0.05, parallel=parallel), batch=2,
                                shared_sinks=[log])
        assert report.frames_processed == sum(counts.values())
        assert report.batch_size.max == 2 and report.stages_ms["inference"].count < sum(counts.values())
        lines = [json.loads(x) for x in (tmp_path / f"p{parallel}.jsonl").read_text().splitlines()]
        for line in lines:
            line.pop("captured")
        written[parallel] = {name: [x for x in lines if x["source"] == name] for name in counts}
    for name, n in counts.items():
        assert [x["frame"] for x in written[2][name]] == list(range(n)), name
    assert written[2] == written[1]
    assert sum(len(x["detections"]) for v in written[1].values() for x in v) > 0


@pytest.mark.slow
def test_a_ray_worker_runs_parallel_batches_like_a_local_run(onnx_model, tmp_path):
    """``StreamWorker`` (the Ray actor's class, run here without Ray) opens its model for the job's
    ``parallel`` and warms every inference thread up before its sources open; its frames carry the same
    detections as a local run of one batch at a time."""
    from edgedet.runtime.cluster_worker import FrameChunk, StreamWorker, WorkerJob, WorkerReport

    counts = {"north": 9, "south": 6}
    frames = frames_from(onnx_model, 9)
    videos = {name: write_video(tmp_path / f"{name}.avi", frames[:n]) for name, n in counts.items()}
    log = JsonlSink(tmp_path / "local.jsonl")
    with OnnxDetector(onnx_model, threads=1) as det:
        run_engine(det, [Stream(n, VideoFileSource(str(p)), [log.for_source(n)]) for n, p in videos.items()],
                   StreamOptions(conf=0.05), batch=2, shared_sinks=[log])
    local = {}
    for line in (tmp_path / "local.jsonl").read_text().splitlines():
        x = json.loads(line)
        local[(x["source"], x["frame"])] = x["detections"]
    worker = StreamWorker({"m.onnx": Path(onnx_model).read_bytes()}, "onnxruntime", "fp32", "cpu", 1, parallel=2)
    assert worker.hello().error is None
    job = WorkerJob([str(p) for p in videos.values()], list(videos), StreamOptions(conf=0.05, parallel=2), 2)
    got, report = {}, None
    for message in worker.run(job):
        if isinstance(message, FrameChunk):
            for r in message.results:
                got[(r.source, r.index)] = r.detections.to_records()
        elif isinstance(message, WorkerReport):
            report = message.report
    assert got == local and report.frames_processed == sum(counts.values())
    worker.detector.close()
