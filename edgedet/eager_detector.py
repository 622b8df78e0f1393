"""The eager PyTorch backend: the torchvision model behind the same contract as the exported ones.

Running the model through the runtime's letterbox makes eager, ONNX and TensorRT numbers
comparable: every backend sees the same canvas pixels, and its raw outputs are padded into the
deployed model's four outputs so one post-process maps them all back to frame pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from edgedet.runtime.detections import Pose
from edgedet.runtime.detector import BackendInfo, Detector
from edgedet.runtime.letterbox import DEFAULT_FILL
from edgedet.runtime.outputs import KEYPOINTS_OUTPUT


def canvas_tensor(canvas_rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float in [0, 1], the input torchvision detection models take."""
    return torch.from_numpy(np.ascontiguousarray(canvas_rgb)).to(device).permute(2, 0, 1).float().div_(255.0)


def pad_outputs(results: Sequence[dict[str, torch.Tensor]]) -> dict[str, np.ndarray]:
    """torchvision's per-image dicts -> the deployed model's padded outputs (``num_detections``, ``boxes``, ...,
    and a Keypoint R-CNN's ``keypoints`` with torchvision's joint scores in place of its visibility)."""
    k = max([len(r["scores"]) for r in results] + [1])
    n = len(results)
    out = {"num_detections": np.zeros(n, np.int32), "boxes": np.zeros((n, k, 4), np.float32),
           "scores": np.zeros((n, k), np.float32), "labels": np.zeros((n, k), np.int64)}
    if results and "keypoints" in results[0]:
        out[KEYPOINTS_OUTPUT] = np.zeros((n, k, results[0]["keypoints"].shape[1], 3), np.float32)
    for i, r in enumerate(results):
        m = len(r["scores"])
        out["num_detections"][i] = m
        out["boxes"][i, :m] = r["boxes"].cpu().numpy()
        out["scores"][i, :m] = r["scores"].cpu().numpy()
        out["labels"][i, :m] = r["labels"].cpu().numpy()
        if KEYPOINTS_OUTPUT in out:
            out[KEYPOINTS_OUTPUT][i, :m, :, :2] = r["keypoints"][..., :2].cpu().numpy()
            out[KEYPOINTS_OUTPUT][i, :m, :, 2] = r["keypoints_scores"].cpu().numpy()
    return out


class TorchDetector(Detector):
    def __init__(self, model: nn.Module, class_names: Sequence[str], canvas: tuple[int, int],
                 device: str = "cpu", fill: int = DEFAULT_FILL, architecture: str = "", source: str = "",
                 pose: Pose | None = None) -> None:
        self.model = model.eval().to(device)
        self.class_names = tuple(class_names)
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.device = device
        self.fill = fill
        self.architecture = architecture or type(model).__name__
        self.source = source
        self.origin = source or self.origin
        self._pose = pose

    @torch.inference_mode()
    def run_canvases(self, canvases: Sequence[np.ndarray]) -> list[dict[str, torch.Tensor]]:
        """Raw torchvision outputs for images already at the canvas size (no letterbox)."""
        return self.model([canvas_tensor(c, self.device) for c in canvases])

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return pad_outputs(self.run_canvases(list(batch)))

    def describe(self) -> BackendInfo:
        return BackendInfo(self.source or "(in memory)", self.architecture, "torch", str(self.device))
