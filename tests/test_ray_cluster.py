"""``edgedet run --ray`` and ``edgedet serve --ray`` on a real two-node Ray cluster on loopback (a head
and a second node, each with one CPU, started by the test with ``ray start``). The run: the same
per-source frames and detections as the local run, and a worker killed mid-run (SIGKILL) loses no file
frame: its sources resume on a new worker, the report says so. The server: Ray Serve's proxy answers as
``edgedet predict`` does, and a replica killed under load fails no request.

Here and not in tests/runtime: those also run in the bare edge install, which has no Ray."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
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


def detector_replicas() -> set[int]:
    """The pids of the Ray Serve replicas that hold a detector (their process title names the deployment)."""
    r = subprocess.run(["pgrep", "-f", "ServeReplica:edgedet:Detector"], capture_output=True, text=True)
    return set(map(int, r.stdout.split()))


def test_serve_on_ray_answers_as_one_box_and_a_killed_replica_fails_no_request(ray_cluster, seeded_onnx, synth_data,
                                                                               tmp_path):
    """``edgedet serve --ray``: two replicas (one per node: each asks for the node's one CPU) answer
    ``/v1/detect`` with what ``edgedet predict --json`` gives; a detector replica killed (SIGKILL) under
    four clients' load is replaced, and every request in the meantime is answered 200; SIGTERM removes the
    application and the command exits cleanly."""
    images = sorted((synth_data / "val" / "images").iterdir())[:3]
    r = subprocess.run([sys.executable, "-m", "edgedet.cli.app", "predict", str(seeded_onnx), str(images[0].parent),
                        "--out", str(tmp_path / "pred"), "--conf", "0", "--json", "--threads", "1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    expected = {Path(k).name: v for k, v in json.loads(r.stdout)["images"].items()}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "edgedet.cli.app", "serve", str(seeded_onnx), "--ray", ray_cluster,
                             "--replicas", "2", "--port", str(port), "--threads", "1"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **RAY_ENV, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "edgedet serve --ray did not become ready"
            time.sleep(0.5)
        for path in images:
            answer = httpx.post(f"{base}/v1/detect", params={"conf": 0, "name": path.name}, content=path.read_bytes(),
                                timeout=60).json()
            (one,) = answer["images"]
            assert one["name"] == path.name and one["detections"] == expected[path.name] and one["detections"]
        refused = httpx.post(f"{base}/v1/streams", json={"source": "rtsp://127.0.0.1:1/cam"})
        assert refused.status_code == 501 and "Ray Serve" in refused.json()["error"]
        assert httpx.get(f"{base}/nowhere").status_code == 404

        statuses: collections.Counter = collections.Counter()
        done = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=base, timeout=120) as c:
                while not done.is_set():
                    try:
                        statuses[c.post("/v1/detect", content=images[0].read_bytes()).status_code] += 1
                    except httpx.HTTPError as exc:  # a dropped connection counts as a failure too
                        statuses[type(exc).__name__] += 1

        clients = [threading.Thread(target=client) for _ in range(4)]
        for t in clients:
            t.start()
        try:
            time.sleep(2)
            before = detector_replicas()
            assert len(before) == 2, before
            os.kill(min(before), signal.SIGKILL)
            deadline = time.monotonic() + 120
            while not (len(now := detector_replicas()) == 2 and now != before):
                assert time.monotonic() < deadline, "the killed replica was not replaced"
                time.sleep(0.5)
            served = sum(statuses.values())
            while sum(statuses.values()) < served + 8:  # the replacement in the rotation, and all answering
                time.sleep(0.2)
        finally:
            done.set()
            for t in clients:
                t.join(120)
        assert set(statuses) == {200} and sum(statuses.values()) > 20, statuses
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    assert "2 replica(s)" in err and "stopped" in err
    deadline = time.monotonic() + 60
    while detector_replicas():  # the application is gone, its replicas with it
        assert time.monotonic() < deadline, "the replicas outlived the application"
        time.sleep(0.5)
