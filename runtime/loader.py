"""``load_detector``: a deployed model file (``.onnx``, ``.engine``) as a ``Detector``.

The runtime's one entry point; the CLI adds eager ``.pt`` checkpoints on top (they need torch).
"""

from __future__ import annotations

from pathlib import Path

from edgedet.runtime.detector import Detector
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_files import CHECKPOINT_SUFFIXES, ENGINE_SUFFIXES, ONNX_SUFFIXES, require_model_file
from edgedet.runtime.onnx_detector import Provider


def load_detector(path: str | Path, provider: Provider | str = Provider.cpu,
                  threads: int | None = None) -> Detector:
    path = require_model_file(path)
    suffix = path.suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        from edgedet.runtime.trt_detector import TensorRTDetector

        return TensorRTDetector(path)
    if suffix in ONNX_SUFFIXES:
        from edgedet.runtime.onnx_detector import OnnxDetector

        return OnnxDetector(path, provider=provider, threads=threads)
    if suffix in CHECKPOINT_SUFFIXES:
        raise EdgedetError(f"'{path}' is a PyTorch checkpoint: export it with 'edgedet export' to run it without "
                           "torch")
    raise EdgedetError(f"unsupported model file '{path}': give an .onnx file or a TensorRT .engine")
