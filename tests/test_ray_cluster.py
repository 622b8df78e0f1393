"""``edgedet run --ray`` on a real two-node Ray cluster on loopback (a head and a second node, each
with one CPU, started by the test with ``ray start``): the same per-source frames and detections as
the local run, and a worker killed mid-run (SIGKILL) loses no file frame: its sources resume on a
new worker, the report says so.

Here and not in tests/runtime: those also run in the bare edge install, which has no Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgedet.runtime.analytics import parse_line
from edgedet.runtime.cluster import Attempt, ClusterModel, RemoteStream, run_on_ray
from edgedet.runtime.cluster_worker import FrameChunk, WorkerHello
from edgedet.runtime.engine import StreamOptions
from edgedet.runtime.sinks import JsonlSink, VideoSink
from edgedet.runtime.tracking import TrackerSpec
from tests.conftest import free_port
from tests.runtime.conftest import assert_valid_report, count_video_frames, frames_from
from tests.runtime.test_multistream import write_video

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
# a throwaway cluster on loopback: no usage reporting, no token to hand around
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
COUNTS = {"north": 24, "south": 31, "gate": 17}


@pytest.fixture(scope="module")
def ray_cluster():
    env = {**os.environ, **RAY_ENV}
    port = free_port()
    node = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", str(150 * 2**20),
            "--disable-usage-stats"]
    try:
        for args in (["--head", "--port", str(port), "--include-dashboard=false"],
                     ["--address", f"127.0.0.1:{port}"]):
            r = subprocess.run([RAY, "start", *args, *node], env=env, capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, r.stderr[-3000:]
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=180)


@pytest.fixture(scope="module")
def videos(seeded_onnx, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ray_videos")
    frames = frames_from(seeded_onnx, max(COUNTS.values()))
    return {name: write_video(folder / f"{name}.avi", frames[:n]) for name, n in COUNTS.items()}


def edgedet_run(model: Path, videos: dict[str, Path], out: Path, *extra: str) -> dict:
    args = [sys.executable, "-m", "edgedet.cli.app", "run", str(model), "--threads", "1", "--conf", "0.05",
            "--jsonl", str(out / "all.jsonl"), "--save", str(out / "{source}.mp4"), "--report", str(out / "r.json")]
    for video in videos.values():
        args += ["--source", str(video)]
    r = subprocess.run([*args, *extra], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env={**os.environ, **RAY_ENV})
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((out / "r.json").read_text())


def by_source(jsonl: Path) -> dict[str, list[tuple[int, list]]]:
    """Each source's (frame, detections) in file order (capture times differ between runs)."""
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    return {name: [(x["frame"], x["detections"]) for x in lines if x["source"] == name and "event" not in x]
            for name in COUNTS}


def events_of(jsonl: Path) -> dict[str, list[dict]]:
    """Each source's line and zone events in file order (sources interleave differently between runs)."""
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    return {name: [x for x in lines if x["source"] == name and "event" in x] for name in COUNTS}


TRACKED = ("--track", "sort", "--detect-every", "2", "--line", "mid=60,0,60,120")


@pytest.fixture(scope="module")
def local_run(seeded_onnx, videos, tmp_path_factory):
    """Tracked, detecting every second frame, with a counting line: what the killed run must equal."""
    out = tmp_path_factory.mktemp("local_run")
    report = edgedet_run(seeded_onnx, videos, out, "--batch", "2", *TRACKED)
    return report, by_source(out / "all.jsonl"), events_of(out / "all.jsonl")


def test_ray_run_matches_the_local_run(ray_cluster, seeded_onnx, videos, tmp_path):
    """Tracked (each worker makes each of its sources' trackers from the run's options), detecting on every
    second frame, with a counting line and a zone (counted by the driver): the same detections, predicted
    boxes, track ids and events, frame for frame, as a local run."""
    tracked = ("--batch", "2", "--track", "sort", "--detect-every", "2", "--line", "mid=60,0,60,120",
               "--zone", "north:lot=0,0,80,0,80,120,0,120")
    (tmp_path / "local").mkdir()
    local_report = edgedet_run(seeded_onnx, videos, tmp_path / "local", *tracked)
    local_lines = by_source(tmp_path / "local" / "all.jsonl")
    report = edgedet_run(seeded_onnx, videos, tmp_path, *tracked, "--ray", ray_cluster)
    lines = by_source(tmp_path / "all.jsonl")
    assert {k: [f for f, _ in v] for k, v in lines.items()} == {k: list(range(n)) for k, n in COUNTS.items()}
    assert lines == local_lines  # the same detections and ids, frame for frame
    rows = [row for v in lines.values() for _, d in v for row in d]
    assert rows and all("tracker_id" in row for row in rows) and any(row.get("predicted") for row in rows)
    assert [s["tracks"] for s in report["sources"]] == [s["tracks"] for s in local_report["sources"]]
    events = events_of(tmp_path / "all.jsonl")
    assert events == events_of(tmp_path / "local" / "all.jsonl") and any(events.values())
    assert [s["analytics"] for s in report["sources"]] == [s["analytics"] for s in local_report["sources"]]
    per = {s["name"]: s["analytics"] for s in report["sources"]}
    assert [z["zone"] for z in per["north"]["zones"]] == ["lot"] and per["south"]["zones"] == []
    for name, n in COUNTS.items():
        assert count_video_frames(tmp_path / f"{name}.mp4") == n
    per = {s["name"]: s for s in report["sources"]}
    assert {k: per[k]["frames_processed"] for k in COUNTS} == COUNTS
    assert {k: per[k]["frames_in"] for k in COUNTS} == COUNTS
    assert report["frames_processed"] == local_report["frames_processed"] == sum(COUNTS.values())
    assert_valid_report(report)
    assert_valid_report(local_report)
    workers = report["ray"]["workers"]
    assert len(workers) == 2 and {w["status"] for w in workers} == {"finished"}
    assert len({w["node"] for w in workers}) == 2  # spread over both nodes
    assert sorted(n for w in workers for n in w["sources"]) == sorted(COUNTS)
    assert report["stages_ms"]["inference"]["count"] >= 1 and report["batch_size"]["max"] <= 2
    assert report["ray"]["restarts"] == 0


def test_a_killed_worker_loses_no_file_frame(ray_cluster, seeded_onnx, videos, local_run, tmp_path, monkeypatch):
    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)
    log = JsonlSink(tmp_path / "all.jsonl")
    streams = [RemoteStream(name, str(path), [VideoSink(tmp_path / f"{name}.mp4", None), log.for_source(name)])
               for name, path in videos.items()]
    pids: dict[int, int] = {}
    killed: list[int] = []

    def on_event(attempt: Attempt, event: object) -> None:
        if isinstance(event, WorkerHello):
            pids[attempt.id] = event.pid
        if isinstance(event, FrameChunk) and attempt.id == 0 and not killed:
            os.kill(pids[0], signal.SIGKILL)  # mid-run: the first chunk of frames has arrived
            killed.append(pids[0])

    # two workers, named: the default (one per live node) counts the nodes Ray reports alive at the start, and
    # on this busy 2-core machine a node was once missed (one group, two workers in all, nothing lost)
    options = StreamOptions(conf=0.05, track=TrackerSpec("sort"), detect_every=2,
                            lines=(parse_line("mid=60,0,60,120"),))
    report = run_on_ray(ClusterModel(seeded_onnx, threads=1), streams, options, 2, ray_cluster,
                        workers=2, shared_sinks=[log], on_event=on_event).to_json()
    assert killed
    lines = by_source(tmp_path / "all.jsonl")
    assert {k: [f for f, _ in v] for k, v in lines.items()} == {k: list(range(n)) for k, n in COUNTS.items()}
    # the resumed sources' trackers went on from where the dead worker left them: the same ids, predicted
    # boxes and events as the uninterrupted local run, the same track statistics
    assert lines == local_run[1] and any(row.get("tracker_id") for v in lines.values() for _, d in v for row in d)
    assert events_of(tmp_path / "all.jsonl") == local_run[2]
    assert [s["tracks"] for s in report["sources"]] == [s["tracks"] for s in local_run[0]["sources"]]
    assert [s["analytics"] for s in report["sources"]] == [s["analytics"] for s in local_run[0]["sources"]]
    for name, n in COUNTS.items():
        assert count_video_frames(tmp_path / f"{name}.mp4") == n
    workers = {w["worker"]: w for w in report["ray"]["workers"]}
    assert workers[0]["status"] == "died" and workers[0]["pid"] == killed[0] and workers[0]["error"]
    assert len(workers) == 3 and workers[2]["status"] == "finished" and workers[2]["sources"] == workers[0]["sources"]
    per = {s["name"]: s for s in report["sources"]}
    resumed = []
    for name in workers[0]["sources"]:
        (restart,) = per[name]["restarts"]
        assert restart["after_worker"] == 0 and restart["worker"] == 2
        assert 0 <= restart["resumed_at_frame"] <= COUNTS[name]
        resumed.append(restart["resumed_at_frame"])
    # the first chunk may hold frames of one of the worker's sources only: that one resumes mid-file
    assert max(resumed) > 0
    assert {k: per[k]["frames_processed"] for k in COUNTS} == COUNTS
    assert report["ray"]["restarts"] == len(workers[0]["sources"])
