"""The ``--serve`` preview under abuse: a burst of half-open and abandoned connections leaves it serving and
prints no traceback; a token guards it off loopback; viewers past the cap get a 503."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.preview_server import MjpegServer
from tests.runtime.test_streaming import publish_at

TOKEN = "0123456789abcdef0123456789abcdef"
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset, as a vanished client does


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(300)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture()
def published():
    servers, stops = [], []

    def start(**kwargs) -> MjpegServer:
        server = MjpegServer("127.0.0.1", 0, **kwargs)
        stop = threading.Event()
        publish_at(server, [np.full((60, 80, 3), 200, np.uint8)], 25, stop)
        servers.append(server)
        stops.append(stop)
        return server

    yield start
    for stop in stops:
        stop.set()
    for server in servers:
        server.close()


@pytest.mark.slow  # 350 connections and a timeout to wait out
def test_a_burst_of_half_open_connections_leaves_it_serving_without_tracebacks(published, capfd):
    server = published(idle_timeout_s=1.0)
    host, port = server.address
    burst = []
    for i in range(300):  # connections that say nothing, or half a request line, then vanish
        s = socket.create_connection((host, port), timeout=10)
        if i % 2:
            s.sendall(b"GET /stream.mjpg HTTP/1.1\r\n")
        burst.append(s)
    time.sleep(0.5)
    for s in burst:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        s.close()
    for _ in range(20):  # viewers that leave mid-stream
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\n\r\n")
        s.recv(2000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
        s.close()
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(30)]  # held open, silent
    time.sleep(2.0)  # past the idle timeout: the server has dropped them
    assert all(s.recv(10) == b"" for s in idle)
    status, body = get(server.url)
    assert status == 200 and b"/stream.mjpg" in body
    with urllib.request.urlopen(server.url + "stream.mjpg", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        assert b"image/jpeg" in r.read(200)
    deadline = time.monotonic() + 5
    while server.viewers and time.monotonic() < deadline:  # every viewer that left was counted out
        time.sleep(0.05)
    assert server.viewers == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err[-2000:]


def test_the_token_guards_the_page_and_the_stream(published):
    server = published(token=TOKEN)
    for path in ("", "stream.mjpg", f"?token={TOKEN}x", "nowhere"):
        status, body = get(server.url + path)
        assert status == 401 and "token" in json.loads(body)["error"], path
    status, page = get(f"{server.url}?token={TOKEN}")
    assert status == 200 and f"/stream.mjpg?token={TOKEN}".encode() in page  # the page's <img> carries it
    request = urllib.request.Request(server.url + "stream.mjpg", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert b"image/jpeg" in r.read(200)
    assert get(f"{server.url}nowhere?token={TOKEN}")[0] == 404


def test_viewers_past_the_cap_get_a_503(published):
    server = published(max_viewers=2)
    held = [urllib.request.urlopen(server.url + "stream.mjpg", timeout=10) for _ in range(2)]
    try:
        for r in held:
            r.read(100)
        status, body = get(server.url + "stream.mjpg")
        assert status == 503 and "2 viewers" in json.loads(body)["error"]
    finally:
        for r in held:
            r.close()
    deadline = time.monotonic() + 10
    while get(server.url + "stream.mjpg", timeout=2)[0] != 200:  # a place frees when a viewer leaves
        assert time.monotonic() < deadline


def test_an_open_address_needs_a_token():
    with pytest.raises(EdgedetError, match="without a token"):
        MjpegServer("0.0.0.0", 0)
