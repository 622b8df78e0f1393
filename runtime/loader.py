"""``load_detector``: a deployed model file (``.onnx``, ``.engine``) as a ``Detector``, on the backend
asked for.

The runtime's one entry point; the CLI adds eager ``.pt`` checkpoints on top (they need torch).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from edgedet.runtime.detector import Detector, Precision
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_files import CHECKPOINT_SUFFIXES, ENGINE_SUFFIXES, ONNX_SUFFIXES, require_model_file
from edgedet.runtime.model_metadata import require_precision
from edgedet.runtime.onnx_detector import ProposalSource, Provider


class Backend(str, Enum):
    """``auto``: TensorRT for engines, ONNX Runtime for ONNX files."""

    auto = "auto"
    onnxruntime = "onnxruntime"
    openvino = "openvino"
    tensorrt = "tensorrt"


def load_detector(path: str | Path, backend: Backend | str = Backend.auto, precision: Precision | str = Precision.fp32,
                  provider: Provider | str = Provider.cpu, threads: int | None = None,
                  proposals: ProposalSource | None = None, spin: bool = True, streams: int = 1) -> Detector:
    """``precision``: bf16 is OpenVINO's (CPUs with native bf16); int8 names a file ``edgedet quantize``
    wrote (ONNX Runtime and OpenVINO both run it); an engine's precision was fixed when it was built.
    ``proposals``: where a file with a ``rois`` input (a model without an RPN) gets them (ONNX Runtime).
    ``spin=False``: ONNX Runtime's idle threads sleep instead of spinning between runs; the stream engine
    asks for it, since its decode and output threads need those cores between two inferences.
    ``streams``: OpenVINO's parallel infer requests, one per batch the engine infers at once."""
    path = require_model_file(path)
    backend, precision = Backend(backend), Precision(precision)
    suffix = path.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        raise EdgedetError(f"'{path}' is a PyTorch checkpoint: export it with 'edgedet export' to run it without "
                           "torch")
    if suffix not in ENGINE_SUFFIXES + ONNX_SUFFIXES:
        raise EdgedetError(f"unsupported model file '{path}': give an .onnx file or a TensorRT .engine")
    if suffix in ENGINE_SUFFIXES:
        if backend not in (Backend.auto, Backend.tensorrt):
            raise EdgedetError(f"'{path}' is a TensorRT engine: it runs on the tensorrt backend only")
        from edgedet.runtime.trt_detector import TensorRTDetector

        return TensorRTDetector(path)
    if backend is Backend.tensorrt:
        raise EdgedetError(f"the tensorrt backend runs engines: build one from '{path}' with 'edgedet build'")
    if precision is Precision.bf16 and backend is not Backend.openvino:
        raise EdgedetError("precision bf16 needs the openvino backend (onnxruntime runs the file as exported)")
    if backend is Backend.openvino:
        from edgedet.runtime.openvino_detector import OpenVinoDetector

        return OpenVinoDetector(path, precision=precision, threads=threads, streams=streams)
    from edgedet.runtime.onnx_detector import OnnxDetector

    detector = OnnxDetector(path, provider=provider, threads=threads, proposals=proposals, spin=spin)
    try:
        require_precision(detector.meta, precision, path)
    except EdgedetError:
        detector.close()
        raise
    return detector
