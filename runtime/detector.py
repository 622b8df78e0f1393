"""The backend contract: every backend (eager PyTorch, ONNX Runtime, TensorRT, ...) is a
``Detector``, so evaluation, prediction, streaming and profiling run and time them all the same way.

The lifecycle follows Polygraphy's runners: construct (allocate), call any number of times, then
``close()`` (or leave a ``with`` block) to free what the backend allocated. A call is three stages,
each a method so the pipeline can time them: ``preprocess`` letterboxes frames into one uint8
NHWC canvas batch, ``infer`` runs the model to the deployed outputs (``num_detections``,
``boxes``, ``scores``, ``labels``, padded), and ``postprocess`` maps boxes back to each frame.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum

import numpy as np

from edgedet.runtime.detections import Detections, Pose
from edgedet.runtime.letterbox import DEFAULT_FILL, letterbox
from edgedet.runtime.model_metadata import ModelMetadata
from edgedet.runtime.outputs import detections_from_outputs


class Precision(str, Enum):
    """How a backend computes: ``fp32`` (exact), ``bf16`` (OpenVINO on CPUs with native bf16), ``int8``
    (a file ``edgedet quantize`` wrote: its convolutions run int8, the rest fp32)."""

    fp32 = "fp32"
    bf16 = "bf16"
    int8 = "int8"


@dataclass(frozen=True)
class BackendInfo:
    """What a report says about the detector that produced its numbers."""

    model: str  # the file (or checkpoint) it runs
    architecture: str
    backend: str  # torch | onnxruntime | openvino | tensorrt
    device: str  # the execution provider or device, e.g. CPUExecutionProvider, cuda:0, an NVIDIA GPU's name
    precision: str = "fp32"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class Detector(ABC):
    """RGB uint8 HxWx3 frames in, ``Detections`` in each frame's pixels out.

    Subclasses set ``class_names`` (label id -> name, 0 the background), ``canvas`` (H, W),
    ``fixed_batch`` (the batch a fixed-batch model needs, else None), ``max_batch`` (the largest
    batch one ``infer`` takes, None for any) and ``fill`` (the letterbox fill). Deployed models
    (ONNX, engines) also carry their file's ``meta``.
    """

    class_names: tuple[str, ...]
    canvas: tuple[int, int]
    meta: ModelMetadata | None = None
    _pose: Pose | None = None
    fixed_batch: int | None = None
    max_batch: int | None = None
    fill: int = DEFAULT_FILL
    _buffer: np.ndarray | None = None

    @property
    def pose(self) -> Pose | None:
        """The joints of a pose model (from its file's metadata), None for a plain detector."""
        return self._pose if self._pose is not None else (self.meta.pose if self.meta else None)

    # -- the three stages ---------------------------------------------------------------------
    def input_buffer(self, n: int) -> np.ndarray:
        """Where ``preprocess`` letterboxes ``n`` frames: one array reused across calls (a backend
        with page-locked or device-mapped memory returns a view of that instead)."""
        if self._buffer is None or len(self._buffer) != n:
            self._buffer = np.empty((n, *self.canvas, 3), np.uint8)
        return self._buffer

    def preprocess(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float]]:
        """Letterbox frames into one uint8 [N, H, W, 3] batch; returns (batch, scales)."""
        batch = self.input_buffer(len(frames))
        scales = [letterbox(frame, self.canvas, self.fill, out=batch[i])[1] for i, frame in enumerate(frames)]
        return batch, scales

    @abstractmethod
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the model on a canvas batch; the deployed model's padded outputs by name."""

    def postprocess(self, outputs: Mapping[str, np.ndarray], scales: Sequence[float],
                    frames_hw: Sequence[tuple[int, int]]) -> list[Detections]:
        return detections_from_outputs(outputs, scales, frames_hw, self.class_names, self.pose)

    # -- description and lifecycle ------------------------------------------------------------
    @abstractmethod
    def describe(self) -> BackendInfo:
        """Model, backend, device and precision, for reports."""

    @abstractmethod
    def close(self) -> None:
        """Free what the backend allocated (sessions, device memory, streams); idempotent."""

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one call -------------------------------------------------------------------------------
    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect on any number of frames: chunked to what one ``infer`` takes; a fixed-batch
        model gets its last chunk padded with blank canvases, whose results are dropped."""
        step = self.fixed_batch or self.max_batch or max(1, len(frames))
        results: list[Detections] = []
        for start in range(0, len(frames), step):
            chunk = list(frames[start:start + step])
            real = len(chunk)
            if self.fixed_batch and real < self.fixed_batch:
                chunk += [np.full((*self.canvas, 3), self.fill, np.uint8)] * (self.fixed_batch - real)
            batch, scales = self.preprocess(chunk)
            outputs = self.infer(batch)
            results.extend(self.postprocess(outputs, scales, [f.shape[:2] for f in chunk])[:real])
        return results
