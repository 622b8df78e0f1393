"""``edgedet serve``: a real uvicorn server on a loopback port and a real HTTP client (httpx). The answers
are checked against ``edgedet predict --json`` on the same files, the metrics with prometheus-client's own
text parser, and malformed requests (fuzzed bodies, headers, tokens, queries) must each get a 4xx JSON
error while the server keeps serving."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from edgedet.cli.models import open_detector
from edgedet.runtime.serve.app import ServeSettings, build_app
from edgedet.runtime.serve.source_policy import SourcePolicy
from tests.conftest import assert_one_line_error, cli, free_port
from tests.runtime.conftest import write_video

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "0123456789abcdef0123456789abcdef"


@contextmanager
def serving(model: Path, policy=None, **settings) -> Iterator[str]:
    """The app over ``model`` on a real uvicorn server in a thread of this process; its base URL."""
    with open_detector(model, threads=1) as detector:
        app = build_app(detector, ServeSettings(**settings), policy)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1",
                                               port=free_port(), log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{server.config.port}"
        finally:
            server.should_exit = True
            thread.join(30)


@pytest.fixture(scope="module")
def images(synth_data) -> list[Path]:
    return sorted((synth_data / "val" / "images").iterdir())[:3]


def metric(base: str, name: str, headers: dict | None = None) -> dict[tuple, float]:
    """Samples of metric ``name`` as {label items: value}, read with prometheus-client's parser."""
    text = httpx.get(f"{base}/metrics", headers=headers).text
    return {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name}


def test_detect_gives_what_predict_gives(seeded_onnx, images, tmp_path):
    r = cli("predict", seeded_onnx, images[0].parent, "--out", tmp_path / "pred", "--conf", "0", "--json")
    assert r.returncode == 0, r.stderr
    expected = {Path(k).name: v for k, v in json.loads(r.stdout)["images"].items()}
    with serving(seeded_onnx) as base:
        for path in images:  # one image per request, as the raw body
            answer = httpx.post(f"{base}/v1/detect", params={"conf": 0, "name": path.name},
                                content=path.read_bytes(), headers={"Content-Type": "image/jpeg"}).json()
            (one,) = answer["images"]
            assert one["name"] == path.name and one["detections"] == expected[path.name] and one["detections"]
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in images]  # all in one form
        answer = httpx.post(f"{base}/v1/detect", params={"conf": 0}, files=files).json()
        assert [(i["name"], i["detections"]) for i in answer["images"]] == [(p.name, expected[p.name])
                                                                            for p in images]
        # the filters: a score floor and a class, by name or id
        floor = httpx.post(f"{base}/v1/detect", params={"conf": 0.04, "classes": "c1,2"},
                           content=images[0].read_bytes()).json()["images"][0]["detections"]
        assert floor == [d for d in expected[images[0].name]
                         if d["score"] >= 0.04 and (d["name"] == "c1" or d["label"] == 2)]


def test_concurrent_requests_share_inference_calls(seeded_onnx, images):
    bodies = [p.read_bytes() for p in images] * 3

    async def burst(base: str) -> list[dict]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            answers = await asyncio.gather(*(client.post("/v1/detect", params={"conf": 0}, content=b)
                                             for b in bodies))
        return [a.json()["images"][0]["detections"] for a in answers]

    with serving(seeded_onnx, window_s=0.2, max_batch=4) as base:
        alone = [httpx.post(f"{base}/v1/detect", params={"conf": 0}, content=b).json()["images"][0]["detections"]
                 for b in bodies[:3]]
        before = metric(base, "edgedet_batch_images_count")[()]
        together = asyncio.run(burst(base))
        calls = metric(base, "edgedet_batch_images_count")[()] - before
        assert calls < len(bodies)  # batched: fewer inference calls than requests
        # the warm-up's batches of 1 to 4 (twice), the three alone, the burst
        assert metric(base, "edgedet_images_total")[()] == 20 + 3 + len(bodies)
    for got, want in zip(together, alone * 3):  # each request its own image's answer, whatever its batch
        assert [d["label"] for d in got] == [d["label"] for d in want]
        np.testing.assert_allclose([d["box"] + [d["score"]] for d in got], [d["box"] + [d["score"]] for d in want],
                                   atol=0.02)


def test_the_token_guards_everything_but_healthz(seeded_onnx, images):
    with serving(seeded_onnx, token=TOKEN) as base:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        for bad in (None, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer"}):
            for method, path in (("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/docs"), ("GET", "/openapi.json"),
                                 ("POST", "/v1/detect"), ("GET", "/nowhere"), ("POST", "/v1/streams"),
                                 ("GET", "/v1/streams"), ("DELETE", "/v1/streams/cam")):
                r = httpx.request(method, base + path, headers=bad, content=images[0].read_bytes())
                assert r.status_code == 401 and "bearer token" in r.json()["error"], (bad, path, r.text)
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/readyz", headers=good).json()["status"] == "ready"
        assert httpx.post(f"{base}/v1/detect", headers=good, content=images[0].read_bytes()).status_code == 200
        assert "edgedet" in httpx.get(f"{base}/docs", headers=good).text
        refused = metric(base, "edgedet_requests_total", good)
        assert refused[(("endpoint", "/v1/detect"), ("status", "401"))] == 5
        assert refused[(("endpoint", "other"), ("status", "401"))] == 5  # unknown paths share one label


def raw_status(port: int, request: bytes) -> int:
    """The status line's code of the answer to raw ``request`` bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        first = conn.makefile("rb").readline()
    return int(first.split()[1])


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, "PNG")
    return out.getvalue()


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "GIF")
    return out.getvalue()


def test_fuzzed_requests_are_4xx_json_and_the_server_keeps_serving(seeded_onnx, images):
    jpeg = images[0].read_bytes()
    big = 64 * 1024

    def chunks():
        for _ in range(8):
            yield b"\xff" * (big // 4)

    cases = {
        "empty body": dict(content=b""),
        "text as jpeg": dict(content=b"hello", headers={"Content-Type": "image/jpeg"}),
        "truncated jpeg": dict(content=jpeg[: len(jpeg) // 2]),
        "jpeg with its end cut": dict(content=jpeg[:-2]),
        "decompression bomb": dict(content=_png(9000, 9000)),
        "gif": dict(content=_gif()),
        "over the size limit": dict(content=b"\0" * (big + 1)),
        "over it, chunked": dict(content=chunks()),
        "text/plain": dict(content=jpeg, headers={"Content-Type": "text/plain"}),
        "json": dict(json={"image": "base64..."}),
        "form without files": dict(data={"a": "b"}),
        "form, bad boundary": dict(content=b"--zz\r\nbroken", headers={"Content-Type": "multipart/form-data; "
                                                                                      "boundary=yy"}),
        "too many files": dict(files=[("f", (f"{i}.jpg", jpeg, "image/jpeg")) for i in range(5)]),
        "a file that is not an image": dict(files=[("f", ("a.jpg", b"GIF89a", "image/jpeg"))]),
        "conf not a number": dict(content=jpeg, params={"conf": "abc"}),
        "conf over 1": dict(content=jpeg, params={"conf": "2"}),
        "an unknown class": dict(content=jpeg, params={"classes": "giraffe"}),
        "class 0 (background)": dict(content=jpeg, params={"classes": "0"}),
        "a name too long": dict(content=jpeg, params={"name": "n" * 500}),
    }
    with serving(seeded_onnx, max_body_bytes=big, max_pixels=40_000_000, max_images=4) as base:
        seen = {}
        for name, kwargs in cases.items():
            r = httpx.post(f"{base}/v1/detect", timeout=60, **kwargs)
            seen[name] = r.status_code
            assert 400 <= r.status_code < 500 and r.json()["error"], (name, r.status_code, r.text)
        for method, path, status in (("GET", "/v1/detect", 405), ("GET", "/../etc/passwd", 404),
                                     ("DELETE", "/healthz", 405), ("GET", "/v2/detect", 404)):
            r = httpx.request(method, base + path)
            assert r.status_code == status and r.json()["error"], (path, r.text)
        assert seen["decompression bomb"] == seen["over the size limit"] == 413 and seen["gif"] == 415
        # below the app: what no HTTP client library sends; uvicorn's parser answers 400 itself
        port = int(base.rsplit(":", 1)[1])
        for request in (b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: x1\r\n\r\n",
                        b"GARBAGE\r\n\r\n"):
            assert 400 <= raw_status(port, request) < 500, request[:40]
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.post(f"{base}/v1/detect", content=jpeg).status_code == 200


def test_serve_refuses_an_open_address_without_a_token(seeded_onnx, tmp_path):
    assert_one_line_error(cli("serve", seeded_onnx, "--host", "0.0.0.0"), "without a token")
    short = tmp_path / "token"
    short.write_text("abc\n")
    assert_one_line_error(cli("serve", seeded_onnx, "--token-file", short), "at least 16 characters")
    assert_one_line_error(cli("serve", seeded_onnx, "--token-file", tmp_path / "none"), "cannot read the token")


def test_serve_checks_its_ray_options_before_reaching_a_cluster(seeded_onnx, tmp_path):
    """Each a one-line error, before any connection (no cluster at this address)."""
    assert_one_line_error(cli("serve", seeded_onnx, "--replicas", "2"), "give --ray too")
    assert_one_line_error(cli("serve", seeded_onnx, "--ray", "127.0.0.1:1", "--out", tmp_path), "does not run")
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not read")
    assert_one_line_error(cli("serve", checkpoint, "--ray", "127.0.0.1:1"), "serves exported files")


@pytest.mark.slow  # a fresh interpreter serving a model
def test_the_serve_command_answers_and_stops_cleanly(seeded_onnx, images, tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edgedet.cli.app", "serve", str(seeded_onnx), "--port", str(port),
                             "--token-file", str(token), "--threads", "1"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if httpx.get(f"{base}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "edgedet serve did not become ready"
            time.sleep(0.2)
        assert httpx.post(f"{base}/v1/detect", content=images[0].read_bytes()).status_code == 401
        r = httpx.post(f"{base}/v1/detect", content=images[0].read_bytes(),
                       headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and r.json()["images"][0]["width"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)  # what a service manager sends; Ctrl-C's SIGINT ends it the same way
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert f"http://127.0.0.1:{port}" in err and "token required" in err and "stopped" in err  # the console


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow  # a browser's start
@pytest.mark.skipif(BROWSER is None and not os.environ.get("CI"),
                    reason="no Chromium on this machine (apt-get install chromium)")
def test_the_docs_page_renders_offline_in_a_browser(seeded_onnx, tmp_path):
    """Swagger UI from the server itself (no CDN): headless Chromium runs its script and lists the API."""
    assert BROWSER is not None, "CI must install Chromium (.ci/run does: apt-get install chromium)"
    with serving(seeded_onnx) as base:
        r = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
                            f"{base}/docs"], capture_output=True, text=True, timeout=90)
    assert "opblock" in r.stdout, r.stdout[-2000:]  # Swagger UI drew the operations from /openapi.json
    for path in ("/v1/detect", "/metrics", "/readyz"):
        assert path in r.stdout


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.slow  # Prometheus' own start and its first scrapes: ~8 s of waiting
@pytest.mark.skipif(PROMETHEUS is None and not os.environ.get("CI"),
                    reason="no Prometheus on this machine (apt-get install prometheus)")
def test_a_real_prometheus_scrapes_the_metrics_with_the_token(seeded_onnx, images, tmp_path):
    """Debian's Prometheus scrapes with the bearer token; its query API gives the server's image counter and
    a stream's frame counter (a file added through /v1/streams)."""
    assert PROMETHEUS is not None, "CI must install Prometheus (.ci/run does: apt-get install prometheus)"
    token = tmp_path / "token"
    token.write_text(TOKEN)
    web = free_port()
    clip, frames = write_video(tmp_path / "clip.avi", seeded_onnx)
    with serving(seeded_onnx, SourcePolicy(media_root=tmp_path), token=TOKEN) as base:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for path in images:
            assert httpx.post(f"{base}/v1/detect", content=path.read_bytes(), headers=auth).status_code == 200
        served = metric(base, "edgedet_images_total", auth)[()]  # the warm-up batch and the three
        added = httpx.post(f"{base}/v1/streams", json={"source": clip.name, "name": "clip"}, headers=auth, timeout=30)
        assert added.status_code == 201, added.text
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/v1/streams/clip", headers=auth).json()["frames_processed"] < frames:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        config = tmp_path / "prometheus.yml"
        config.write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: edgedet
    authorization: {{type: Bearer, credentials_file: {token}}}
    static_configs: [{{targets: ["{base.split('//')[1]}"]}}]
""")
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{web}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

        def query(expr: str) -> float | None:
            try:
                result = httpx.get(f"http://127.0.0.1:{web}/api/v1/query", params={"query": expr}).json()["data"]
            except (httpx.TransportError, KeyError, ValueError):
                return None
            return float(result["result"][0]["value"][1]) if result["result"] else None

        try:
            deadline, values = time.monotonic() + 60, [None, None]
            while None in values:
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "Prometheus never scraped the server"
                time.sleep(0.5)
                values = [query('edgedet_images_total{job="edgedet"}'),
                          query('edgedet_stream_frames_processed_total{job="edgedet",stream="clip"}')]
            up = query("up")
        finally:
            proc.terminate()
            proc.wait(30)
    assert values[0] == served == 72 + len(images)  # warm-up batches of 1 to 8 twice, the three: via Prometheus
    assert values[1] == frames  # the stream's every frame
    assert up == 1.0  # the scrape itself succeeded (token accepted)
