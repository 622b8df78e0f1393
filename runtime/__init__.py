"""edgedet's torch-free edge runtime (``edgedet.runtime``).

Everything here imports numpy, OpenCV and ONNX Runtime only (TensorRT lazily), so a bare
``pip install edgedet`` runs exported models on a device without PyTorch.
"""

from edgedet.runtime.detections import Detections
from edgedet.runtime.detector import BackendInfo, Detector
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import load_detector

__all__ = ["BackendInfo", "Detections", "Detector", "EdgedetError", "load_detector"]
