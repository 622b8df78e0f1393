"""Letterboxing frames into the model's fixed canvas and mapping boxes back.

The contract (DESIGN.md): scale = min(H/h, W/w), the resized frame is placed at the
top-left corner and the rest is filled with a constant. Top-left placement means the
inverse is a plain division by the scale, with no offset to get wrong.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_FILL = 114


def letterbox_scale(frame_hw: tuple[int, int], canvas_hw: tuple[int, int]) -> float:
    h, w = frame_hw
    return min(canvas_hw[0] / h, canvas_hw[1] / w)


def letterbox(
    frame: np.ndarray, canvas_hw: tuple[int, int], fill: int = DEFAULT_FILL, out: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Place ``frame`` (HxWx3 uint8) top-left in a canvas; returns (canvas, scale).

    ``out`` lets a caller reuse one buffer per batch slot instead of allocating per frame.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 frame, got shape {frame.shape} dtype {frame.dtype}")
    ch, cw = canvas_hw
    scale = letterbox_scale(frame.shape[:2], canvas_hw)
    nh = min(ch, max(1, round(frame.shape[0] * scale)))
    nw = min(cw, max(1, round(frame.shape[1] * scale)))
    if out is None:
        out = np.empty((ch, cw, 3), np.uint8)
    if (nh, nw) == frame.shape[:2]:
        resized = frame
    else:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(frame, (nw, nh), interpolation=interp)
    out[:nh, :nw] = resized
    out[nh:, :] = fill
    out[:nh, nw:] = fill
    return out, scale


def unletterbox_boxes(boxes: np.ndarray, scale: float, frame_hw: tuple[int, int]) -> np.ndarray:
    """Canvas-pixel boxes to frame pixels: divide by the scale, clip to the frame."""
    out = boxes.astype(np.float32) / np.float32(scale)
    h, w = frame_hw
    np.clip(out[:, 0::2], 0, w, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, h, out=out[:, 1::2])
    return out


def unletterbox_points(points: np.ndarray, scale: float, frame_hw: tuple[int, int]) -> np.ndarray:
    """Canvas-pixel keypoints ``[..., 3]`` (x, y, score) to frame pixels: x and y divided by the scale
    and clipped to the frame like boxes; the score is kept."""
    out = np.array(points, dtype=np.float32)
    out[..., :2] /= np.float32(scale)
    h, w = frame_hw
    np.clip(out[..., 0], 0, w, out=out[..., 0])
    np.clip(out[..., 1], 0, h, out=out[..., 1])
    return out
