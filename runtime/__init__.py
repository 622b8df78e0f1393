"""edgedet's torch-free edge runtime.

Everything under ``runtime`` imports numpy, OpenCV and ONNX Runtime only (TensorRT lazily),
so a bare ``pip install edgedet`` runs exported models on a device without PyTorch.
"""

from runtime.detections import Detections
from runtime.detector import Detector
from runtime.errors import EdgedetError

__all__ = ["Detections", "Detector", "EdgedetError"]
