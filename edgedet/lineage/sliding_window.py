"""Sliding windows scored by boosted classifiers, in the manner of Viola-Jones: HOG features
(scikit-image) of every window at several scales, one AdaBoost of decision stumps per class
(scikit-learn, object class vs everything else), then per-class NMS.

Efficiency as the classic detectors do it: the image is resized so each window size becomes the
classifier's 32x32 and HOG is computed once per scale; a window's descriptor is its 3x3
neighbourhood of HOG blocks, read by array striding, so the image is never cropped per window."""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch
from skimage.feature import hog
from sklearn.ensemble import AdaBoostClassifier
from torchvision.ops import batched_nms

from edgedet.data.coco import CocoData
from edgedet.lineage.crops import random_backgrounds
from edgedet.lineage.method_detector import MethodDetector, StageClock
from edgedet.runtime.images import read_rgb

WINDOW = 32  # the classifier's window, pixels
CELL = 8
BLOCKS = WINDOW // CELL - 1  # 3 blocks of 2x2 cells per window side
HOG_ARGS = {"orientations": 9, "pixels_per_cell": (CELL, CELL), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}


def gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def window_descriptors(image_gray: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Every window of side ``window`` (stride a quarter window): descriptors [N, D] and boxes [N, 4]."""
    scale = WINDOW / window
    h, w = image_gray.shape
    resized = cv2.resize(image_gray, (max(WINDOW, round(w * scale)), max(WINDOW, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    blocks = hog(resized, feature_vector=False, **HOG_ARGS)  # [by, bx, 2, 2, 9]
    by, bx = blocks.shape[:2]
    ny, nx = by - BLOCKS + 1, bx - BLOCKS + 1
    if ny < 1 or nx < 1:
        return np.zeros((0, BLOCKS * BLOCKS * 36), np.float32), np.zeros((0, 4), np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(blocks, (BLOCKS, BLOCKS), axis=(0, 1))  # [ny,nx,2,2,9,3,3]
    desc = windows.transpose(0, 1, 5, 6, 2, 3, 4).reshape(ny * nx, -1).astype(np.float32)
    ys, xs = np.mgrid[0:ny, 0:nx]
    x1, y1 = xs.reshape(-1) * CELL / scale, ys.reshape(-1) * CELL / scale
    boxes = np.stack([x1, y1, x1 + window, y1 + window], 1).astype(np.float32)
    return desc, boxes


def crop_descriptor(image_gray: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The descriptor of one box warped to the window (training samples)."""
    x1, y1, x2, y2 = box
    sx, sy = WINDOW / max(x2 - x1, 1e-3), WINDOW / max(y2 - y1, 1e-3)
    patch = cv2.warpAffine(image_gray, np.array([[sx, 0, -x1 * sx], [0, sy, -y1 * sy]]), (WINDOW, WINDOW),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return hog(patch, feature_vector=False, **HOG_ARGS).reshape(-1).astype(np.float32)  # window_descriptors' order


def window_sizes(canvas: tuple[int, int], count: int = 5) -> list[float]:
    """Window sides from 16 px to 60 % of the canvas, geometric (the shapes span that range)."""
    return list(np.geomspace(16, 0.6 * min(canvas), count))


class BoostedWindows:
    """One AdaBoost (decision stumps, SAMME) per class over HOG window descriptors."""

    def __init__(self, num_classes: int, estimators: int = 60, seed: int = 0) -> None:
        self.models = [AdaBoostClassifier(n_estimators=estimators, random_state=seed) for _ in range(1, num_classes)]

    def fit(self, desc: np.ndarray, labels: np.ndarray) -> BoostedWindows:
        for c, model in enumerate(self.models, start=1):
            model.fit(desc, (labels == c).astype(np.int64))
        return self

    def scores(self, desc: np.ndarray) -> np.ndarray:
        """[N, C - 1]: each class's boosted probability."""
        return np.stack([m.predict_proba(desc)[:, 1] for m in self.models], 1) if len(desc) else \
            np.zeros((0, len(self.models)), np.float32)


def training_set(data: CocoData, images: int, seed: int = 0, negatives_per_image: int = 12) -> tuple[np.ndarray, ...]:
    """Object boxes (positives) and random background windows (negatives) of ``images`` training images."""
    rng = np.random.default_rng(seed)
    desc, labels = [], []
    for record in data.images[:images]:
        g = gray(read_rgb(record.path))
        for box, label in zip(record.boxes, record.labels):
            desc.append(crop_descriptor(g, box))
            labels.append(int(label))
            flipped = np.array([g.shape[1] - box[2], box[1], g.shape[1] - box[0], box[3]])
            desc.append(crop_descriptor(np.ascontiguousarray(g[:, ::-1]), flipped))
            labels.append(int(label))
        for box in random_backgrounds(rng, g.shape, record.boxes, negatives_per_image):
            desc.append(crop_descriptor(g, box))
            labels.append(0)
    return np.stack(desc), np.asarray(labels, np.int64)


def sliding_window_detector(model: BoostedWindows, class_names, canvas: tuple[int, int], threshold: float = 0.5,
                            nms_iou: float = 0.3, max_detections: int = 100) -> MethodDetector:
    sizes = window_sizes(canvas)

    def detect(image: np.ndarray, clock: StageClock):
        with clock("features"):
            g = gray(image)
            parts = [window_descriptors(g, s) for s in sizes]
            desc = np.concatenate([d for d, _ in parts])
            boxes = np.concatenate([b for _, b in parts])
        with clock("head"):
            scores = model.scores(desc)
            keep_w, keep_c = np.nonzero(scores >= threshold)
            b = torch.from_numpy(boxes[keep_w])
            s = torch.from_numpy(scores[keep_w, keep_c].astype(np.float32))
            lab = torch.from_numpy(keep_c + 1)
            kept = batched_nms(b, s, lab, nms_iou)[:max_detections]
        return b[kept].numpy(), s[kept].numpy(), lab[kept].numpy()

    return MethodDetector("sliding_window_adaboost", detect, class_names, canvas)


def train_sliding_window(train: CocoData, images: int, seed: int = 0) -> tuple[BoostedWindows, dict]:
    t0 = time.perf_counter()
    desc, labels = training_set(train, images, seed)
    model = BoostedWindows(train.num_classes, seed=seed).fit(desc, labels)
    return model, {"train_s": round(time.perf_counter() - t0, 1), "samples": len(labels),
                   "positives": int((labels > 0).sum())}
