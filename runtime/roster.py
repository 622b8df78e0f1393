"""The streams of a running engine that another thread may change: a service adds a camera and removes
one while the others go on (``edgedet serve``'s ``/v1/streams``).

The caller opens a stream's source itself (an RTSP camera can take seconds to answer) and hands the
engine a ready ``Stream``; the engine takes the changes between batches, so no stream waits for another's
arrival or departure. A stream that leaves is closed after the frames already on their way to its sinks
are written. An engine with a roster keeps running with no stream at all, until its ``state.stop``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from edgedet.runtime.errors import EdgedetError

if TYPE_CHECKING:
    from edgedet.runtime.engine import Stream


class Roster:
    """Joins and leaves, in the order they were asked for; names are unique among the streams present."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._joining: list[Stream] = []
        self._leaving: list[Stream] = []
        self._present: dict[str, Stream] = {}

    def add(self, stream: Stream) -> None:
        with self._lock:
            if stream.name in self._present:
                raise EdgedetError(f"a stream named '{stream.name}' is running already: pick another name")
            self._present[stream.name] = stream
            self._joining.append(stream)

    def remove(self, name: str) -> Stream:
        """The stream that will leave (the engine closes it); an unknown name is an error."""
        with self._lock:
            stream = self._present.pop(name, None)
            if stream is None:
                raise EdgedetError(f"no stream named '{name}' is running")
            unstarted = stream in self._joining
            if unstarted:
                self._joining.remove(stream)
            else:
                self._leaving.append(stream)
        if unstarted:  # the engine never had it: close it here (outside the lock: a camera takes a moment)
            stream.close()
        return stream

    def present(self) -> list[Stream]:
        with self._lock:
            return list(self._present.values())

    def get(self, name: str) -> Stream | None:
        with self._lock:
            return self._present.get(name)

    def take(self) -> tuple[list[Stream], list[Stream]]:
        """What changed since the last call: the streams to start, those to stop (the engine's side)."""
        with self._lock:
            joining, leaving = self._joining, self._leaving
            self._joining, self._leaving = [], []
            return joining, leaving
