"""``/v1/streams`` on a real uvicorn server with a real HTTP client: cameras (the project's own MJPEG server)
and a file added and removed while a camera runs, each stream's live report, and every bad request a 4xx
JSON error (bad bodies, sources the operator did not allow, path traversal in a file or a save path,
unknown names) while the server goes on serving."""

from __future__ import annotations

import json
import threading
import time

import cv2
import httpx
import numpy as np
import pytest

from edgedet.runtime.preview_server import MjpegServer
from edgedet.runtime.serve.source_policy import SourcePolicy
from tests.conftest import free_port
from tests.runtime.conftest import frames_from, write_video
from tests.runtime.test_streaming import publish_at
from tests.test_serve import metric, serving

pytestmark = pytest.mark.slow


@pytest.fixture()
def camera(seeded_onnx):
    server = MjpegServer("127.0.0.1", 0)
    stop = threading.Event()
    publish_at(server, frames_from(seeded_onnx, 6), 25, stop)
    yield f"http://127.0.0.1:{server.address[1]}/stream.mjpg"
    stop.set()
    server.close()


def test_streams_come_and_go_while_a_camera_runs(seeded_onnx, camera, tmp_path):
    (tmp_path / "media").mkdir()
    path, count = write_video(tmp_path / "media" / "clip.avi", seeded_onnx)
    with serving(seeded_onnx, SourcePolicy(media_root=path.parent, out=tmp_path / "out")) as base:
        (tmp_path / "out").mkdir()
        r = httpx.post(f"{base}/v1/streams", json={"source": camera, "name": "cam", "conf": 0.05}, timeout=30)
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "cam" and r.json()["live"]
        seen, stop = [], threading.Event()

        def watch() -> None:  # the running camera's frame count, five times a second
            with httpx.Client(base_url=base) as client:
                while not stop.wait(0.2):
                    seen.append((time.monotonic(), client.get("/v1/streams/cam").json()["frames_processed"]))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            time.sleep(1.0)
            for body in ({"source": camera, "name": "cam2", "save": "cam2.mp4"},
                         {"source": path.name, "name": "clip", "track": "bytetrack"}):
                r = httpx.post(f"{base}/v1/streams", json=body, timeout=30)
                assert r.status_code == 201, r.text
            names = {s["name"] for s in httpx.get(f"{base}/v1/streams").json()["streams"]}
            assert names == {"cam", "cam2", "clip"}
            deadline = time.monotonic() + 30
            while httpx.get(f"{base}/v1/streams/clip").json()["frames_processed"] < count:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            clip = httpx.delete(f"{base}/v1/streams/clip").json()["report"]
            # a file that ended is closed at once (its video committed, its tracks summed up), not at the end
            assert clip["frames_processed"] == count and clip["tracks"]["tracker"] == "bytetrack"
            time.sleep(1.0)
            removed = httpx.delete(f"{base}/v1/streams/cam2")
            assert removed.status_code == 200 and removed.json()["report"]["frames_processed"] > 0
            assert httpx.get(f"{base}/v1/streams/cam2").status_code == 404
            time.sleep(1.5)
        finally:
            stop.set()
            watcher.join()
        assert [s["name"] for s in httpx.get(f"{base}/v1/streams").json()["streams"]] == ["cam"]
    changes = [t for (t, n), (_, before) in zip(seen[1:], seen) if n > before]
    assert len(seen) > 15 and max(b - a for a, b in zip(changes, changes[1:])) < 1.2, seen
    assert (tmp_path / "out" / "cam2.mp4").stat().st_size > 0  # closed and committed when it left


def test_bad_stream_requests_are_4xx_json(seeded_onnx, camera, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (tmp_path / "secret.avi").write_bytes(b"not yours")
    refused = [
        (b"not json", 400), (b"[1, 2]", 400), (b"{}", 400), (b'{"source": 5}', 400),
        (b'{"source": "0", "colour": "red"}', 400), (b'{"source": "0", "conf": 2}', 400),
        (b'{"source": "0", "track": "deepsort"}', 400), (b'{"source": "0", "lines": ["door"]}', 400),
        (b'{"source": ""}', 400), (b'{"source": "/etc/passwd"}', 403), (b'{"source": "../secret.avi"}', 403),
        (b'{"source": "missing.avi"}', 404), (b'{"source": "filesrc location=/etc/passwd ! appsink"}', 403),
        (b'{"source": "file:///etc/passwd"}', 403),
        (b'{"source": "0", "save": "../../x.mp4"}', 400), (b'{"source": "0", "save": "/tmp/x.mp4"}', 400),
        (b'{"source": "0", "save": "x.txt"}', 400),
        (f'{{"source": "http://127.0.0.1:{free_port()}/x.mjpg"}}'.encode(), 422),
        (b'{"source": "%s", "name": "a/b"}' % camera.encode(), 400),
        (b'{"source": "%s", "name": "cam"}' % camera.encode(), 409),  # the name of a running stream
        (b'{"source": "0", "name": "' + b"x" * 70_000 + b'"}', 413),
    ]
    with serving(seeded_onnx, SourcePolicy(media_root=media, out=tmp_path / "out")) as base:
        assert httpx.post(f"{base}/v1/streams", json={"source": camera, "name": "cam"}, timeout=30).status_code == 201
        for body, status in refused:
            r = httpx.post(f"{base}/v1/streams", content=body, headers={"Content-Type": "application/json"},
                           timeout=30)
            assert r.status_code == status and r.json()["error"], (body[:80], r.status_code, r.text)
        for method in ("GET", "DELETE"):
            r = httpx.request(method, f"{base}/v1/streams/nope")
            assert r.status_code == 404 and "no stream named 'nope'" in r.json()["error"]
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert [s["name"] for s in httpx.get(f"{base}/v1/streams").json()["streams"]] == ["cam"]
        for expected in ("stream1", "stream2"):  # unnamed streams get the first free default name
            r = httpx.post(f"{base}/v1/streams", json={"source": camera}, timeout=30)
            assert r.status_code == 201 and r.json()["name"] == expected, r.text
        assert httpx.delete(f"{base}/v1/streams/stream1").status_code == 200
        assert httpx.post(f"{base}/v1/streams", json={"source": camera}, timeout=30).json()["name"] == "stream1"
    with serving(seeded_onnx) as base:  # no --out: no saving at all
        r = httpx.post(f"{base}/v1/streams", json={"source": camera, "save": "a.mp4"}, timeout=30)
        assert r.status_code == 403 and "--out" in r.json()["error"]


def test_a_streams_events_preview_and_metrics(seeded_onnx, camera):
    """SSE: each frame's JSON Lines record, in order (with track ids); the preview: JPEG parts of the drawn
    frames; /metrics: the stream's counters (prometheus-client's parser); all end when the stream leaves."""
    with serving(seeded_onnx) as base:
        body = {"source": camera, "name": "cam", "conf": 0.05, "track": "bytetrack", "lines": ["mid=80,0,80,120"]}
        assert httpx.post(f"{base}/v1/streams", json=body, timeout=30).status_code == 201
        frames, ended = [], threading.Event()
        with httpx.stream("GET", f"{base}/v1/streams/cam/events", timeout=30) as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in events.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "frame":
                    frames.append(json.loads(line[6:]))
                    if len(frames) == 8:
                        break
        indices = [f["frame"] for f in frames]
        assert indices == sorted(indices) and len(set(indices)) == 8
        assert all((f["width"], f["height"]) == (160, 120) for f in frames)
        assert all("tracker_id" in d for f in frames for d in f["detections"])
        with httpx.stream("GET", f"{base}/v1/streams/cam/preview", timeout=30) as preview:
            assert preview.headers["content-type"].startswith("multipart/x-mixed-replace")
            data = b""
            for chunk in preview.iter_bytes():
                data += chunk
                if data.count(b"\xff\xd9") >= 2:
                    break
        jpeg = data[data.index(b"\xff\xd8"): data.index(b"\xff\xd9") + 2]
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
        counts = metric(base, "edgedet_stream_frames_processed_total")
        assert counts[(("stream", "cam"),)] >= 8
        assert metric(base, "edgedet_stream_outages_total")[(("stream", "cam"),)] == 0

        def listen() -> None:  # a client still listening when the stream is removed: its feed ends
            with httpx.stream("GET", f"{base}/v1/streams/cam/events", timeout=30) as events:
                for _ in events.iter_lines():
                    pass
            ended.set()

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.5)
        assert httpx.delete(f"{base}/v1/streams/cam").status_code == 200
        assert ended.wait(10), "the events feed did not end with its stream"
        assert metric(base, "edgedet_stream_frames_processed_total") == {}


def test_the_preview_takes_the_token_as_a_query(seeded_onnx, camera):
    """With a token, a stream's preview opens with ?token= (what an <img> can send); a wrong one is a 401,
    and no other path takes the token that way."""
    token = "0123456789abcdef0123456789abcdef"
    auth = {"Authorization": f"Bearer {token}"}
    with serving(seeded_onnx, token=token) as base:
        assert httpx.post(f"{base}/v1/streams", json={"source": camera, "name": "cam"}, headers=auth,
                          timeout=30).status_code == 201
        with httpx.stream("GET", f"{base}/v1/streams/cam/preview", params={"token": token}, timeout=30) as r:
            assert r.status_code == 200 and b"\xff\xd8" in next(r.iter_bytes())
        for path, query in (("/v1/streams/cam/preview", {"token": token + "x"}), ("/v1/streams/cam/preview", {}),
                            ("/v1/streams/cam", {"token": token}), ("/v1/streams/cam/events", {"token": token})):
            r = httpx.get(base + path, params=query, timeout=30)
            assert r.status_code == 401 and "bearer token" in r.json()["error"], (path, query)
