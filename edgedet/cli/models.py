"""Open any model file as a ``Detector``: ``.pt`` eager, ``.onnx`` ONNX Runtime, ``.engine`` TensorRT.

The composition point between the torch side and the runtime: torch is imported only for
``.pt``, so ONNX users never load it.
"""

from __future__ import annotations

from pathlib import Path

from edgedet.runtime.detector import Detector
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import Backend, load_detector
from edgedet.runtime.model_files import CHECKPOINT_SUFFIXES, require_model_file
from edgedet.runtime.onnx_detector import Provider


def open_detector(path: str | Path, provider: Provider | str = Provider.cpu, threads: int | None = None,
                  backend: Backend | str = Backend.auto, precision: str = "fp32", spin: bool = True,
                  streams: int = 1) -> Detector:
    path = require_model_file(path)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        if Backend(backend) is not Backend.auto or precision != "fp32":
            raise EdgedetError(f"'{path}' is a PyTorch checkpoint: it runs eagerly in fp32; export it to use "
                               "another backend or precision")
        from edgedet.checkpoints import model_from_checkpoint
        from edgedet.eager_detector import TorchDetector

        model, meta = model_from_checkpoint(path)
        return TorchDetector(model, meta.class_names, meta.canvas, device="cuda" if provider == "cuda" else "cpu",
                             architecture=meta.architecture, source=str(path), pose=meta.pose)
    return load_detector(path, backend=backend, precision=precision, provider=provider, threads=threads, spin=spin,
                         streams=streams)
