"""Sources that survive bad data: an undecodable frame or file is skipped, named once and counted;
a live stream is reopened only when its connection is gone; a cut video says so. Every counter is
checked against what was injected (tests/runtime/fuzz_stream.py is a real, misbehaving HTTP camera)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedet.runtime.engine import Stream, StreamOptions, run_engine
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.report import SourceHealth
from edgedet.runtime.sources import ImageFolderSource, LiveOptions, LiveSource, VideoFileSource
from tests.runtime.conftest import frames_from
from tests.runtime.fuzz_stream import FuzzMjpegServer

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgedet.cli.app", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=300)


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.slow
def test_corrupt_mjpeg_frames_are_skipped_not_reconnected(onnx_model):
    """The issue's case (every fifth part random bytes, every seventh a truncated JPEG), sent at 60 fps: one
    second of parts, and the run lasts three."""
    plan = ["random" if i % 5 == 4 else "truncated" if i % 7 == 6 else "ok" for i in range(60)] + ["ok"] * 2
    server = FuzzMjpegServer([plan], fps=60.0)
    try:
        with OnnxDetector(onnx_model) as det:
            source = LiveSource(server.url)
            report = run_engine(det, [Stream("cam", source)], StreamOptions(conf=0.05, duration_s=3.0)).to_json()
    finally:
        server.close()
    assert server.sent == [plan]
    assert report["outages"] == 0
    # random bytes never decode; OpenCV decodes a truncated JPEG (with a warning), so those are frames
    assert report["decode_errors"] == plan.count("random") == 12
    assert report["frames_in"] == len(plan) - 12
    # newest-frame policy: every good frame that arrived was either processed or dropped as stale
    assert report["frames_processed"] + report["frames_dropped"] == report["frames_in"]


@pytest.mark.parametrize(
    ("plans", "outages", "decode_errors"),
    [
        ([["ok"] * 5 + ["zero"] + ["ok"] * 5 + ["zero"] + ["ok"] * 5], 0, 2),
        ([["ok"] * 10 + ["cut"], ["ok"] * 15], 1, 0),
        pytest.param([["ok"] * 10 + ["stall"] + ["ok"] * 5, ["ok"] * 15], 1, 0, marks=pytest.mark.slow),
        ([["ok"] * 6 + ["random"] * 3 + ["ok"] * 6], 0, 3),
    ],
    ids=["zero-length-parts", "server-closes-mid-frame", "stall-past-threshold", "random-run"],
)
def test_fuzzed_stream_counters(plans, outages, decode_errors):
    server = FuzzMjpegServer(plans, stall_s=2.0)  # twice the source's read timeout below
    expected_frames = sum(p.count("ok") for p in plans[: outages + 1]) - (5 if "stall" in plans[0] else 0)
    source = LiveSource(server.url, options=LiveOptions(stall_s=1.0), max_backoff_s=0.5)
    try:
        got = []
        assert _wait(lambda: (got.append(f) if (f := source.read(timeout=0.05)) else None) or
                     source.frames_in >= expected_frames, timeout=15), SourceHealth.of(source)
        time.sleep(0.5)
        health = SourceHealth.of(source)
    finally:
        source.close()
        server.close()
    assert health.outages == outages, health
    assert health.decode_errors == decode_errors, health
    assert len(server.sent) == outages + 1


@pytest.mark.slow
def test_folder_with_bad_files_runs_on(onnx_model, tmp_path):
    """The issue's case: five good JPEGs, a text file named 5.jpg and a truncated JPEG."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    frames = frames_from(onnx_model, 6)
    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.jpg"), frames[i])
    (folder / "5.jpg").write_text("not an image")
    good = cv2.imencode(".jpg", frames[5])[1].tobytes()
    (folder / "6.jpg").write_bytes(good[: len(good) * 2 // 3])
    r = cli("run", onnx_model, "--source", folder, "--json", "--jsonl", tmp_path / "d.jsonl")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["frames_processed"] == 6 and report["unreadable"] == 1
    assert report["unreadable_files"] == [str(folder / "5.jpg")]
    assert "5.jpg" in r.stderr and "Traceback" not in r.stderr
    assert [json.loads(line)["frame"] for line in (tmp_path / "d.jsonl").read_text().splitlines()] == [
        0, 1, 2, 3, 4, 6]
    r = cli("predict", onnx_model, folder, "--out", tmp_path / "pred", "--json")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "pred").glob("*.jpg"))) == 6
    assert json.loads(r.stdout)["unreadable"] == [str(folder / "5.jpg")]


@pytest.mark.slow
def test_folder_of_only_bad_files_is_an_error(onnx_model, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"")
    (folder / "b.png").write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    for args in (("run", onnx_model, "--source", folder), ("predict", onnx_model, folder, "--out", tmp_path / "p")):
        r = cli(*args)
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
        assert len(lines) == 1 and "could be read" in lines[0], r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "p").exists()


def test_many_bad_files_are_summarised_not_flooded(tmp_path, caplog):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.zeros((8, 8, 3), np.uint8))
    for i in range(12):
        (folder / f"bad{i:02d}.jpg").write_text("x")
    with caplog.at_level("WARNING", logger="edgedet.sources"), ImageFolderSource(str(folder)) as src:
        frames = list(src)
    assert len(frames) == 1 and len(src.unreadable) == 12
    assert len(caplog.records) <= 5 and "12 unreadable image files in all" in caplog.text


def _video(path: Path, count: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for i in range(count):
        img = np.full((120, 160, 3), 80, np.uint8)
        cv2.circle(img, (20 + i, 60), 15, (0, 0, 255), -1)
        writer.write(img)
    writer.release()
    return path


@pytest.mark.slow
def test_video_cut_in_half_says_so(onnx_model, tmp_path):
    full = _video(tmp_path / "v.avi", 90)
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    r = cli("run", onnx_model, "--source", cut, "--json", "--save", tmp_path / "out.avi")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["ended_early"] is True and report["frames_expected"] == 90
    assert 30 <= report["frames_processed"] == report["frames_in"] < 90
    assert "ended early" in r.stderr
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == report["frames_processed"]
    with VideoFileSource(str(full)) as src:
        assert sum(1 for _ in src) == 90 and not src.ended_early


def test_garbled_frame_in_a_video_is_skipped(tmp_path):
    data = bytearray(_video(tmp_path / "v.avi", 60).read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    s = starts[30]
    data[s + 200: s + 1200] = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    path = tmp_path / "g.avi"
    path.write_bytes(bytes(data))
    with VideoFileSource(str(path)) as src:
        frames = list(src)
    assert src.decode_errors == 1 and not src.ended_early
    assert len(frames) >= 57
