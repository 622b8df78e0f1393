"""The ONNX Runtime ``Detector``: letterbox, one ``session.run``, boxes back to frame pixels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runtime.detections import Detections
from runtime.errors import EdgedetError
from runtime.letterbox import letterbox
from runtime.model_metadata import ModelMetadata
from runtime.outputs import detect_in_batches, detections_from_outputs

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def make_session(path: str | Path, provider: str = "cpu", threads: int | None = None, profile: str | None = None):
    """An onnxruntime session; providers missing from this build fall back to the CPU."""
    import onnxruntime as ort

    if provider not in PROVIDERS:
        raise EdgedetError(f"unknown provider '{provider}': choose one of {', '.join(PROVIDERS)}")
    if not Path(path).is_file():
        raise EdgedetError(f"model file '{path}' does not exist")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if profile:  # a file prefix for ONNX Runtime's trace
        options.enable_profiling = True
        options.profile_file_prefix = profile
    available = set(ort.get_available_providers())
    providers = [p for p in PROVIDERS[provider] if p in available] or ["CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgedetError(f"onnxruntime cannot load '{path}': {first}") from exc


class OnnxDetector:
    """Runs an edgedet ONNX file; frames of any size, any count (chunked to a fixed batch)."""

    def __init__(self, path: str | Path, provider: str = "cpu", threads: int | None = None,
                 profile: str | None = None) -> None:
        self.path = Path(path)
        self.session = make_session(path, provider, threads, profile)
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = ModelMetadata.from_props(props, source=f"'{path}'")
        self.class_names = self.meta.class_names
        self.canvas = tuple(self.meta.canvas)
        self.providers = self.session.get_providers()
        self._batch = np.empty((0, *self.canvas, 3), np.uint8)

    def preprocess(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float]]:
        """Letterbox frames into one reused NHWC uint8 batch buffer."""
        if len(self._batch) != len(frames):
            self._batch = np.empty((len(frames), *self.canvas, 3), np.uint8)
        batch = self._batch
        scales = []
        for i, frame in enumerate(frames):
            _, scale = letterbox(frame, self.canvas, self.meta.letterbox_fill, out=batch[i])
            scales.append(scale)
        return batch, scales

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, {"images": batch})))

    def postprocess(self, outputs: dict[str, np.ndarray], scales: Sequence[float],
                    frames_hw: Sequence[tuple[int, int]]) -> list[Detections]:
        return detections_from_outputs(outputs, scales, frames_hw, self.class_names)

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return detect_in_batches(self, frames,
                                 self.meta.batch or max(1, len(frames)), self.meta.batch, self.meta.letterbox_fill)
