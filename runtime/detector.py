"""The one interface every backend implements: frames in, ``Detections`` out.

Evaluation, prediction, streaming and profiling are written against this protocol, so
eager PyTorch, ONNX Runtime and TensorRT are scored and timed by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from runtime.detections import Detections


@runtime_checkable
class Detector(Protocol):
    #: label id -> name; index 0 is the background.
    class_names: Sequence[str]
    #: the model's fixed input canvas (H, W); frames are letterboxed into it.
    canvas: tuple[int, int]

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect on RGB uint8 HxWx3 frames; boxes come back in each frame's pixels."""
        ...
