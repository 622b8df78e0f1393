"""Warped crops of a detection data set: what R-CNN's CNN, the single-object task and the sliding
window's classifier see. A box is enlarged by a context margin (R-CNN pads 16 of 227 pixels) and
warped, whatever its aspect, to a fixed square, as in the paper."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgedet.data.coco import CocoData
from edgedet.runtime.agreement import box_iou
from edgedet.runtime.images import read_rgb
from edgedet.runtime.letterbox import DEFAULT_FILL

CROP = 64
CONTEXT = 0.15  # margin on each side, as a share of the box side (R-CNN: 16 / 195)


@dataclass
class CropSet:
    """``images`` uint8 [N, S, S, 3]; ``labels`` [N] (0: background); ``targets`` [N, 4]: the object's
    box inside its crop, x1, y1, x2, y2 as shares of the side (meaningful where label > 0)."""

    images: np.ndarray
    labels: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def context_boxes(boxes: np.ndarray, context: float = CONTEXT) -> np.ndarray:
    """Each box grown by ``context`` of its width and height on every side."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    pad = (boxes[:, 2:] - boxes[:, :2]) * context
    return np.concatenate([boxes[:, :2] - pad, boxes[:, 2:] + pad], axis=1)


def warp(image: np.ndarray, regions: np.ndarray, size: int = CROP) -> np.ndarray:
    """Each region ``[N, 4]`` (any aspect, may leave the image: the outside is the letterbox fill)
    warped to ``size`` x ``size`` by one affine map each, bilinear."""
    out = np.empty((len(regions), size, size, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(regions, np.float64)):
        sx, sy = size / max(x2 - x1, 1e-3), size / max(y2 - y1, 1e-3)
        affine = np.array([[sx, 0, -x1 * sx], [0, sy, -y1 * sy]], np.float64)
        out[i] = cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=(DEFAULT_FILL,) * 3)
    return out


def relative(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """``boxes`` in the coordinates of their ``regions``, as shares of the region's sides."""
    wh = np.maximum(regions[:, 2:] - regions[:, :2], 1e-3)
    return np.concatenate([(boxes[:, :2] - regions[:, :2]) / wh, (boxes[:, 2:] - regions[:, :2]) / wh], axis=1)


def random_backgrounds(rng: np.random.Generator, hw: tuple[int, int], gt: np.ndarray, count: int,
                       max_iou: float = 0.3) -> np.ndarray:
    """Up to ``count`` random boxes (log-uniform sides) overlapping no ground truth above ``max_iou``."""
    h, w = hw
    side = np.exp(rng.uniform(np.log(12), np.log(max(13, min(h, w) * 0.6)), (count * 4, 2)))
    x1 = rng.uniform(0, np.maximum(1, w - side[:, 0]))
    y1 = rng.uniform(0, np.maximum(1, h - side[:, 1]))
    boxes = np.stack([x1, y1, x1 + side[:, 0], y1 + side[:, 1]], 1).astype(np.float32)
    if len(gt):
        boxes = boxes[box_iou(boxes, gt).max(1) < max_iou]
    return boxes[:count]


def object_crops(data: CocoData, seed: int = 0, jitter: float = 0.1, backgrounds_per_image: int = 2,
                 size: int = CROP) -> CropSet:
    """One crop per object (its box with context, centre and scale jittered by ``jitter``) and a few
    background crops per image: the single-object task and the CNN's pre-training task."""
    rng = np.random.default_rng(seed)
    images, labels, targets = [], [], []
    for record in data.images:
        image = read_rgb(record.path)
        gt = record.boxes
        if len(gt):
            wh = gt[:, 2:] - gt[:, :2]
            shift = rng.uniform(-jitter, jitter, (len(gt), 4)) * np.concatenate([wh, wh], 1)
            regions = context_boxes(gt + shift)
            images.append(warp(image, regions, size))
            labels.append(record.labels)
            targets.append(relative(gt, regions))
        bg = random_backgrounds(rng, image.shape[:2], gt, backgrounds_per_image)
        if len(bg):
            images.append(warp(image, context_boxes(bg), size))
            labels.append(np.zeros(len(bg), np.int64))
            targets.append(np.zeros((len(bg), 4), np.float32))
    return CropSet(np.concatenate(images), np.concatenate(labels).astype(np.int64),
                   np.concatenate(targets).astype(np.float32))
