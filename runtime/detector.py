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
from edgedet.runtime.errors import EdgedetError
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

    The base does the contract's work once, in the template-method shape of Polygraphy's
    ``BaseRunner``: the public ``infer`` refuses a closed detector and a batch that is not the model's
    (dtype, canvas, batch size) with the same error on every backend, then calls the backend's own
    ``_infer``; ``close`` is idempotent and calls the backend's ``_close`` once. A deployed model
    (ONNX file, engine) hands its file's metadata to ``adopt``, which sets ``class_names`` (label id ->
    name, 0 the background), ``canvas`` (H, W), ``fixed_batch`` (the batch a fixed-batch model needs,
    else None) and ``fill`` (the letterbox fill); an eager model sets them itself. ``max_batch`` is the
    largest batch one ``infer`` takes (None for any); ``origin`` names what runs, in errors.
    """

    class_names: tuple[str, ...]
    canvas: tuple[int, int]
    meta: ModelMetadata | None = None
    _pose: Pose | None = None
    fixed_batch: int | None = None
    max_batch: int | None = None
    fill: int = DEFAULT_FILL
    origin: str = "(in memory)"
    closed: bool = False
    concurrent = False  # whether ``infer`` may run in several threads at once (the engine's ``parallel``)
    _buffer: np.ndarray | None = None

    def adopt(self, meta: ModelMetadata, origin: str) -> None:
        """Take the facts every deployed file's metadata gives (the one place they are copied)."""
        self.meta, self.origin = meta, origin
        self.class_names, self.canvas = meta.class_names, meta.canvas
        self.fixed_batch, self.fill = meta.batch, meta.letterbox_fill

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

    def preprocess(self, frames: Sequence[np.ndarray], fresh: bool = False) -> tuple[np.ndarray, list[float]]:
        """Letterbox frames into one uint8 [N, H, W, 3] batch; returns (batch, scales). ``fresh``: a new array
        rather than the reused buffer (batches being inferred at the same time need their own)."""
        batch = np.empty((len(frames), *self.canvas, 3), np.uint8) if fresh else self.input_buffer(len(frames))
        scales = [letterbox(frame, self.canvas, self.fill, out=batch[i])[1] for i, frame in enumerate(frames)]
        return batch, scales

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the model on a canvas batch (uint8 ``[N, H, W, 3]`` at the canvas); the deployed model's
        padded outputs by name."""
        if self.closed:
            raise EdgedetError(f"the detector for '{self.origin}' is closed: make a new one")
        self.check_batch(batch)
        return self._infer(batch)

    def check_batch(self, batch: np.ndarray) -> None:
        h, w = self.canvas
        if not isinstance(batch, np.ndarray) or batch.dtype != np.uint8 or batch.ndim != 4 \
                or tuple(batch.shape[1:]) != (h, w, 3):
            got = f"{batch.dtype} {list(batch.shape)}" if isinstance(batch, np.ndarray) else type(batch).__name__
            raise EdgedetError(f"'{self.origin}' takes uint8 canvases [N, {h}, {w}, 3], got {got}: letterbox the "
                               "frames with preprocess() first")
        n = len(batch)
        if n == 0 or (self.fixed_batch and n != self.fixed_batch) or (self.max_batch and n > self.max_batch):
            allowed = f"exactly {self.fixed_batch}" if self.fixed_batch else \
                f"1 to {self.max_batch}" if self.max_batch else "at least 1"
            raise EdgedetError(f"'{self.origin}' takes batches of {allowed} canvases, got {n}")

    @abstractmethod
    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The backend's own run, on a batch ``infer`` has checked."""

    def postprocess(self, outputs: Mapping[str, np.ndarray], scales: Sequence[float],
                    frames_hw: Sequence[tuple[int, int]]) -> list[Detections]:
        return detections_from_outputs(outputs, scales, frames_hw, self.class_names, self.pose)

    # -- description and lifecycle ------------------------------------------------------------
    @abstractmethod
    def describe(self) -> BackendInfo:
        """Model, backend, device and precision, for reports."""

    def close(self) -> None:
        """Free what the backend allocated (sessions, device memory, streams); a second call does nothing."""
        if not self.closed:
            self.closed = True
            self._buffer = None
            self._close()

    def _close(self) -> None:  # noqa: B027  (a backend that holds nothing beyond the input buffer)
        """The backend's own release, called once."""

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
