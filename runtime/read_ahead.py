"""Decoding a file source on its own thread, a few frames ahead of the engine.

A live source already captures on a thread (newest frame only). A file or image folder is read
losslessly, so decoding it in the engine's thread made every batch wait for its decode.
``ReadAhead`` decodes the next ``depth`` frames in the background into a bounded queue: the file
still yields every frame in order, decoding overlaps inference, and at most ``depth`` decoded
frames are held. A frame's capture time is when it was decoded, so end-to-end latency includes its
wait in this queue. ``frames_in`` counts the frames handed to the engine (a run stopped by a frame limit
or Ctrl-C does not count the few decoded ahead); every other counter (decode errors, unreadable files,
a cut file) is the wrapped source's.
"""

from __future__ import annotations

import queue
import threading

from edgedet.runtime.frames import Frame
from edgedet.runtime.sources import Source

DEPTH = 4  # decoded frames held ahead of the engine
_END = object()


class ReadAhead(Source):
    """A non-live source read on a thread. ``read(None)`` waits for the next frame (None at the end);
    ``read(0)`` returns None when the decoder has not caught up yet."""

    live = False

    def __init__(self, inner: Source, depth: int = DEPTH) -> None:  # the counters stay the inner source's
        if inner.live:
            raise ValueError("ReadAhead reads files and folders; a live source has its own capture thread")
        self.inner = inner
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._ended = False
        self._error: BaseException | None = None
        self._delivered = 0
        self._thread = threading.Thread(target=self._decode, name="edgedet-read-ahead", daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        try:
            while not self._stop.is_set() and not self.inner.exhausted:
                frame = self.inner.read(timeout=None)
                if frame is not None and not self._offer(frame):
                    return
        except BaseException as exc:  # raised again by ``read`` in the engine's thread
            self._error = exc
        self._offer(_END)

    def _offer(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._ended:
            return None
        try:
            item = self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()
        except queue.Empty:
            return None
        if item is _END:
            self._ended = True
            if self._error is not None:
                raise self._error
            return None
        self._delivered += 1
        return item

    @property
    def exhausted(self) -> bool:
        return self._ended

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._ended = True
        self.inner.close()

    # -- the wrapped source's counters ------------------------------------------------------------
    description = property(lambda self: self.inner.description)
    fps = property(lambda self: self.inner.fps)
    frames_in = property(lambda self: self._delivered)  # frames the engine took, not those decoded ahead
    frames_dropped = property(lambda self: self.inner.frames_dropped)
    outages = property(lambda self: self.inner.outages)
    decode_errors = property(lambda self: self.inner.decode_errors)
    unreadable = property(lambda self: self.inner.unreadable)
    frames_expected = property(lambda self: self.inner.frames_expected)
    ended_early = property(lambda self: self.inner.ended_early)
    clock = property(lambda self: self.inner.clock)
    gave_up = property(lambda self: self.inner.gave_up)
