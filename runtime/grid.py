"""The MJPEG preview of many streams: one page, the newest annotated frame of each stream in a grid.

Each stream gets a view sink (``for_source``); a view's write replaces that stream's tile and
publishes the whole grid, at most ``max_fps`` times a second (JPEG-encoding a grid for every frame
of every stream would cost more than the detector). Tiles keep their stream's aspect ratio and are
labelled with its name.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from edgedet.runtime.frames import now
from edgedet.runtime.letterbox import letterbox
from edgedet.runtime.preview_server import MjpegServer
from edgedet.runtime.sinks import Sink


class GridPreview:
    def __init__(self, server: MjpegServer, names: list[str], tile: tuple[int, int] = (270, 480),
                 max_fps: float = 15.0) -> None:
        self.server, self.names, self.tile = server, list(names), tile
        self.cols = math.ceil(math.sqrt(len(self.names)))
        rows = math.ceil(len(self.names) / self.cols)
        self.canvas = np.zeros((rows * tile[0], self.cols * tile[1], 3), np.uint8)
        self.min_gap = 1.0 / max_fps
        self._last = 0.0
        self._lock = threading.Lock()
        for name in self.names:
            self._put(name, np.zeros((*tile, 3), np.uint8))

    def _put(self, name: str, rgb: np.ndarray) -> None:
        i = self.names.index(name)
        r, c = divmod(i, self.cols)
        h, w = self.tile
        tile = letterbox(rgb, self.tile, fill=0)[0]
        cv2.putText(tile, name, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        self.canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile

    def update(self, name: str, rgb: np.ndarray) -> None:
        with self._lock:
            self._put(name, rgb)
            if now() - self._last < self.min_gap:
                return
            self._last = now()
            grid = self.canvas.copy()
        self.server.publish(grid)

    def for_source(self, name: str) -> Sink:
        return _GridView(self, name)


class _GridView(Sink):
    wants_annotated = True

    def __init__(self, grid: GridPreview, name: str) -> None:
        self.grid, self.name = grid, name

    def write(self, frame, detections, annotated) -> None:
        self.grid.update(self.name, annotated)
