"""A lineage method behind the ``Detector`` contract, so pycocotools scores it through the same
``evaluate`` as every backend, and its time per image is split the way the papers split it:
proposals, features, head."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from edgedet.eager_detector import pad_outputs
from edgedet.runtime.detector import BackendInfo, Detector
from edgedet.runtime.selective_search import selective_search

STAGES = ("proposals", "features", "head")


class StageClock:
    """Seconds per stage, summed over images; ``with clock("features"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.images = 0

    @contextmanager
    def __call__(self, stage: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t

    def per_image(self) -> dict[str, float]:
        n = max(1, self.images)
        split = {f"s_{k}": self.seconds.get(k, 0.0) / n for k in STAGES}
        return {"s_per_image": sum(split.values()), **split}


Detect = Callable[[np.ndarray, StageClock], tuple[np.ndarray, np.ndarray, np.ndarray]]


class MethodDetector(Detector):
    """``detect(canvas, clock) -> (boxes [N, 4], scores [N], labels [N])`` per canvas, padded like a
    deployed model's outputs."""

    def __init__(self, name: str, detect: Detect, class_names: Sequence[str], canvas: tuple[int, int]) -> None:
        self.name = name
        self.detect = detect
        self.class_names = tuple(class_names)
        self.canvas = canvas
        self.clock = StageClock()

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        results = []
        for canvas in batch:
            boxes, scores, labels = self.detect(canvas, self.clock)
            self.clock.images += 1
            results.append({"boxes": torch.as_tensor(np.asarray(boxes, np.float32)).reshape(-1, 4),
                            "scores": torch.as_tensor(np.asarray(scores, np.float32)).reshape(-1),
                            "labels": torch.as_tensor(np.asarray(labels, np.int64)).reshape(-1)})
        return pad_outputs(results)

    def describe(self) -> BackendInfo:
        return BackendInfo("(lineage)", self.name, "torch", "cpu")


class ProposalCache:
    """Selective search proposals computed once per canvas (the slow part of R-CNN and Fast R-CNN, and
    both use the same ones), looked up by the canvas's bytes. A method is charged the measured
    selective-search time per image for each lookup; a canvas not seen before is searched there and
    then (and timed)."""

    def __init__(self, seconds_per_image: float, max_proposals: int) -> None:
        self.seconds_per_image = seconds_per_image
        self.max_proposals = max_proposals
        self._boxes: dict[bytes, np.ndarray] = {}

    @staticmethod
    def key(canvas: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(canvas).tobytes(), digest_size=16).digest()

    def add(self, canvas: np.ndarray, boxes: np.ndarray) -> None:
        self._boxes[self.key(canvas)] = boxes

    def padded(self, canvases: np.ndarray, count: int) -> np.ndarray:
        """The proposal source of a file with a ``rois`` input (``OnnxDetector(proposals=cache.padded)``):
        each canvas's first ``count`` proposals, zero rows past them, the same boxes the eager model gets."""
        rois = np.zeros((len(canvases), count, 4), np.float32)
        for i, canvas in enumerate(canvases):
            boxes = self.get(canvas)[:count]
            rois[i, :len(boxes)] = boxes
        return rois

    def get(self, canvas: np.ndarray, clock: StageClock | None = None) -> np.ndarray:
        boxes = self._boxes.get(self.key(canvas))
        if boxes is None:
            t = time.perf_counter()
            boxes = selective_search(canvas, self.max_proposals)
            spent = time.perf_counter() - t
            self.add(canvas, boxes)
        else:
            spent = self.seconds_per_image
        if clock is not None:
            clock.seconds["proposals"] += spent
        return boxes
