"""A real MJPEG-over-HTTP camera that misbehaves on purpose, for the bad-data tests.

Each connection plays the next *plan*: a list of part kinds sent at a fixed frame rate —
``ok`` (a good JPEG), ``random`` (random bytes, same length), ``truncated`` (the first half of a
JPEG), ``zero`` (an empty part), ``stall`` (the socket stays open and silent for
``stall_s``), ``cut`` (half a part, then the connection closes). After its plan a connection
either closes or stays open and silent (``hold``). Loopback only; bounded in time.
"""

from __future__ import annotations

import random
import socket
import threading
import time

import cv2
import numpy as np

BOUNDARY = b"edgedetfuzz"


def jpeg(i: int) -> bytes:
    img = np.full((120, 160, 3), 40 + (i * 7) % 150, np.uint8)
    cv2.circle(img, (30 + i % 100, 60), 18, (230, 40, 40), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def part(data: bytes) -> bytes:
    return (b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(data)).encode()
            + b"\r\n\r\n" + data + b"\r\n")


class FuzzMjpegServer:
    def __init__(self, plans: list[list[str]], fps: float = 30.0, hold: bool = True, stall_s: float = 4.0) -> None:
        self.plans, self.fps, self.hold, self.stall_s = list(plans), fps, hold, stall_s
        self.sent: list[list[str]] = []  # per connection, what was sent
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/stream.mjpg"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            plan = self.plans.pop(0) if self.plans else []
            sent: list[str] = []
            self.sent.append(sent)
            threading.Thread(target=self._play, args=(conn, plan, sent), daemon=True).start()

    def _play(self, conn: socket.socket, plan: list[str], sent: list[str]) -> None:
        rng = random.Random(len(self.sent))
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=" + BOUNDARY
                         + b"\r\n\r\n")
            for i, kind in enumerate(plan):
                if self._stop.is_set():
                    break
                data = jpeg(i)
                if kind == "random":
                    data = rng.randbytes(len(data))
                elif kind == "truncated":
                    data = data[: len(data) // 2]
                elif kind == "zero":
                    data = b""
                elif kind == "stall":
                    self._stop.wait(self.stall_s)
                elif kind == "cut":
                    conn.sendall(part(data)[: len(data) // 2])
                    sent.append(kind)
                    return
                conn.sendall(part(data))
                sent.append(kind)
                time.sleep(1 / self.fps)
            if self.hold:
                self._stop.wait(30)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
