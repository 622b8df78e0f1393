"""Open any model file as a ``Detector``: ``.pt`` eager, ``.onnx`` ONNX Runtime, ``.engine`` TensorRT.

This is the composition point between the torch side and the runtime: the torch import
happens only for ``.pt``, so ONNX users never load torch.
"""

from __future__ import annotations

from pathlib import Path

from runtime.detector import Detector
from runtime.errors import EdgedetError


def load_detector(path: str | Path, provider: str = "cpu", threads: int | None = None) -> Detector:
    path = Path(path)
    if not path.is_file():
        raise EdgedetError(f"model file '{path}' does not exist")
    if path.suffix in (".engine", ".plan"):
        from runtime.trt_detector import TensorRTDetector

        return TensorRTDetector(path)
    if path.suffix == ".onnx":
        from runtime.onnx_detector import OnnxDetector

        return OnnxDetector(path, provider=provider, threads=threads)
    if path.suffix in (".pt", ".pth"):
        from edgedet.checkpoints import model_from_checkpoint
        from edgedet.eager_detector import TorchDetector

        model, meta = model_from_checkpoint(path)
        return TorchDetector(model, meta["class_names"], tuple(meta["canvas"]),
                             device="cuda" if provider == "cuda" else "cpu")
    raise EdgedetError(f"unsupported model file '{path}': give a .pt checkpoint, an .onnx file or an .engine")
