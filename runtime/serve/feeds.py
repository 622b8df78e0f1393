"""A service stream's live feeds: Server-Sent Events of each frame's detections and its line and zone events
(``/v1/streams/{name}/events``), and its MJPEG preview (``/v1/streams/{name}/preview``).

Both are sinks the engine's output thread writes; each client has a small queue of its own on the event
loop, and a client that falls behind loses its oldest items rather than holding anything up. Nothing is
encoded while nobody listens: the preview asks for drawn frames only while it has a viewer.
"""

from __future__ import annotations

import asyncio
import json
import threading

import cv2

from edgedet.runtime.serve.refusal import Refused
from edgedet.runtime.sinks import Sink, frame_record

MAX_CLIENTS = 16  # per feed
EVENT_BACKLOG = 256  # items a slow events client may fall behind by
BOUNDARY = "edgedetframe"


class Fanout(Sink):
    """Items from the output thread to each client's queue on ``loop``; None ends every client's stream."""

    def __init__(self, loop: asyncio.AbstractEventLoop, what: str, backlog: int) -> None:
        self.loop, self.what, self.backlog = loop, what, backlog
        self._clients: list[asyncio.Queue] = []
        self._lock = threading.Lock()
        self.closed = False

    @property
    def listening(self) -> bool:
        return bool(self._clients)

    def subscribe(self) -> asyncio.Queue:
        with self._lock:
            if self.closed:
                raise Refused(404, "the stream has ended")
            if len(self._clients) >= MAX_CLIENTS:
                raise Refused(503, f"this stream's {self.what} has {MAX_CLIENTS} clients already: try again later")
            client: asyncio.Queue = asyncio.Queue(self.backlog)
            self._clients.append(client)
            return client

    def unsubscribe(self, client: asyncio.Queue) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    def publish(self, item: bytes | None) -> None:
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            self.loop.call_soon_threadsafe(_offer, client, item)

    def close(self) -> None:
        with self._lock:
            self.closed = True
        if not self.loop.is_closed():
            self.publish(None)


def _offer(client: asyncio.Queue, item: bytes | None) -> None:
    if client.full():  # a slow client: its oldest item goes
        client.get_nowait()
    client.put_nowait(item)


class EventFeed(Fanout):
    """``event: frame`` with the JSON Lines record of each frame, ``event: line_crossed`` (etc.) with each
    analytics event."""

    needs_pixels = False

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, "event feed", EVENT_BACKLOG)

    def write(self, frame, detections, annotated) -> None:
        if self.listening:
            self.publish(_sse("frame", frame_record(frame, detections)))

    def write_events(self, frame, events) -> None:
        if self.listening:
            for event in events:
                record = event.to_json()
                self.publish(_sse(record["event"], record))


def _sse(kind: str, payload: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()


class PreviewFeed(Fanout):
    """The drawn frames as JPEG parts of one multipart/x-mixed-replace answer; the newest only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, quality: int = 80) -> None:
        super().__init__(loop, "preview", 1)
        self.quality = quality

    @property
    def wants_annotated(self) -> bool:  # the engine draws a frame only while someone watches
        return self.listening

    def write(self, frame, detections, annotated) -> None:
        if self.listening and annotated is not None:
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if ok:
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.publish(head.encode() + jpeg.tobytes() + b"\r\n")
