"""The eager PyTorch ``Detector``: the same letterbox and box mapping as the exported runtimes.

Running the torchvision model through the runtime's letterbox makes eager, ONNX and
TensorRT numbers comparable: every backend sees the same canvas pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from runtime.detections import Detections
from runtime.letterbox import DEFAULT_FILL, letterbox, unletterbox_boxes


def canvas_tensor(canvas_rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float in [0, 1], the input torchvision detection models take."""
    return torch.from_numpy(np.ascontiguousarray(canvas_rgb)).to(device).permute(2, 0, 1).float().div_(255.0)


class TorchDetector:
    def __init__(self, model: nn.Module, class_names: Sequence[str], canvas: tuple[int, int],
                 device: str = "cpu", fill: int = DEFAULT_FILL) -> None:
        self.model = model.eval().to(device)
        self.class_names = tuple(class_names)
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.device = device
        self.fill = fill

    @torch.inference_mode()
    def run_canvases(self, canvases: Sequence[np.ndarray]) -> list[dict[str, torch.Tensor]]:
        """Raw torchvision outputs for images already at the canvas size (no letterbox)."""
        return self.model([canvas_tensor(c, self.device) for c in canvases])

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        canvases, scales = [], []
        for frame in frames:
            canvas, scale = letterbox(frame, self.canvas, self.fill)
            canvases.append(canvas)
            scales.append(scale)
        results = []
        for out, scale, frame in zip(self.run_canvases(canvases), scales, frames):
            boxes = unletterbox_boxes(out["boxes"].cpu().numpy(), scale, frame.shape[:2])
            results.append(Detections(boxes, out["scores"].cpu().numpy(), out["labels"].cpu().numpy(),
                                      self.class_names))
        return results
