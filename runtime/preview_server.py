"""``run --serve HOST:PORT``: the annotated stream as MJPEG (multipart/x-mixed-replace) for a browser, on
the standard library's threaded HTTP server (the torch-free runtime needs no web framework for a picture).

The same rules as ``edgedet serve``: loopback unless a token guards it (the bearer header, or
``?token=`` — a browser cannot send a header for an ``<img>``), a cap on concurrent viewers with a 503 past
it, a connection that sends no request within ``idle_timeout_s`` is dropped (a burst of half-open
connections cannot pin the server's threads), and a viewer that leaves is no traceback on the run's
terminal."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import cv2
import numpy as np

from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.serve.access import authorized, check_bind
from edgedet.runtime.sinks import Sink

_PAGE = """<!doctype html><html><head><title>edgedet preview</title>
<style>body{{margin:0;background:#111;color:#ddd;font-family:sans-serif}}img{{max-width:100vw;max-height:95vh}}</style>
</head><body><div>edgedet live preview</div><img id="stream" src="/stream.mjpg{query}" alt="stream"></body></html>"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of connections waits in the backlog instead of being refused

    def handle_error(self, request, client_address) -> None:
        """A client that went away (reset, timeout, broken pipe) is routine; anything else is one line."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        print(f"preview: {type(exc).__name__}: {exc} (client {client_address[0]})", file=sys.stderr)


class MjpegServer(Sink):
    """The newest frame only, so slow viewers never hold the pipeline up."""

    wants_annotated = True
    BOUNDARY = b"edgedetframe"

    def __init__(self, host: str, port: int, quality: int = 80, token: str | None = None, max_viewers: int = 16,
                 idle_timeout_s: float = 10.0) -> None:
        check_bind(host, token)
        self.quality, self.token, self.max_viewers = quality, token, max_viewers
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._closed = False
        self._viewers = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = idle_timeout_s  # the socket's: reading the request, and each write to a viewer

            def log_message(self, *args) -> None:  # keep the terminal clean
                pass

            def _json(self, status: int, message: str) -> None:
                body = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 401:
                    self.send_header("WWW-Authenticate", "Bearer")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                url = urlsplit(self.path)
                given = parse_qs(url.query).get("token", [None])[0]
                header = self.headers.get("Authorization") or (f"Bearer {given}" if given else None)
                if not authorized(header, server.token):
                    self._json(401, "a valid token is needed: 'Authorization: Bearer <token>' or ?token=<token>")
                elif url.path in ("/", "/index.html"):
                    page = _PAGE.format(query=f"?token={quote(given)}" if given else "").encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                elif url.path == "/stream.mjpg":
                    if not server._join():
                        self._json(503, f"the preview has its {server.max_viewers} viewers: try again later")
                        return
                    try:
                        self.send_response(200)
                        self.send_header("Cache-Control", "no-cache")
                        self.send_header("Content-Type",
                                         f"multipart/x-mixed-replace; boundary={server.BOUNDARY.decode()}")
                        self.end_headers()
                        server._stream_to(self.wfile)
                    finally:
                        server._leave()
                else:
                    self._json(404, f"no page at '{url.path}': the preview is at /")

        try:
            self._httpd = _Server((host, port), Handler)
        except OSError as exc:
            raise EdgedetError(f"cannot serve the preview on {host}:{port} ({exc.strerror})") from None
        self.address = self._httpd.server_address
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="edgedet-mjpeg", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}/"

    @property
    def viewers(self) -> int:
        return self._viewers

    def _join(self) -> bool:
        with self._cond:
            if self._viewers >= self.max_viewers:
                return False
            self._viewers += 1
            return True

    def _leave(self) -> None:
        with self._cond:
            self._viewers -= 1

    def _stream_to(self, out) -> None:
        seen = 0  # the first frame published is seq 1: a client that comes before it waits
        while True:
            with self._cond:
                while self._seq == seen and not self._closed:
                    self._cond.wait(0.5)
                if self._closed:
                    return
                jpeg, seen = self._jpeg, self._seq
            try:
                out.write(b"--" + self.BOUNDARY + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                          + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                out.flush()
            except (ConnectionError, TimeoutError):
                return

    def publish(self, rgb: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            with self._cond:
                self._jpeg, self._seq = buf.tobytes(), self._seq + 1
                self._cond.notify_all()

    def write(self, frame, detections, annotated) -> None:
        self.publish(annotated)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
