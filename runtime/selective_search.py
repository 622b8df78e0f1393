"""Selective search region proposals (OpenCV's ``ximgproc`` implementation), torch-free.

R-CNN and Fast R-CNN take their regions from selective search (Uijlings et al.): a graph-based
over-segmentation merged hierarchically by colour, texture, size and fill similarity, every
merged region's box a proposal. This is the proposal source of the lineage's R-CNN and Fast
R-CNN, and of a deployed Fast R-CNN file (whose graph takes ``rois`` as a second input), so it
lives in the runtime: an edge device runs it without torch. ``ximgproc`` ships in OpenCV's
*contrib* wheels; edgedet depends on ``opencv-contrib-python-headless`` for that reason.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from edgedet.runtime.install_hints import missing

MIN_SIDE = 2.0  # proposals thinner than this (pixels) are dropped: nothing to pool
SEED = 0


def _seed_c_rand(seed: int) -> None:
    """OpenCV ranks the merged regions as the paper does, by hierarchy level times a random number, and
    draws that number from the C library's ``rand()``, which nothing seeds: two searches of one image
    give the same boxes in another order (measured), so a Fast R-CNN file and its eager model would see
    different top-N proposals. Seeding ``rand()`` before each search makes the order a function of the
    image alone. Where the C library cannot be reached (not a POSIX libc), the order stays OpenCV's."""
    try:
        ctypes.CDLL(None).srand(ctypes.c_uint(seed))
    except (OSError, AttributeError, TypeError):
        pass


def _segmentation():
    ximgproc = getattr(cv2, "ximgproc", None)
    if ximgproc is None:
        raise missing("selective search", "cv2.ximgproc")
    return ximgproc.segmentation.createSelectiveSearchSegmentation()


def selective_search(image_rgb: np.ndarray, max_proposals: int = 2000, quality: bool = False) -> np.ndarray:
    """Up to ``max_proposals`` boxes ``[N, 4]`` float32 (x1, y1, x2, y2, pixels of ``image_rgb``) in
    the order OpenCV ranks them (its hierarchical grouping's order, most merged last within a
    strategy). ``quality`` runs the paper's slower "quality" strategy set instead of "fast"."""
    cv2.setNumThreads(1)
    search = _segmentation()
    _seed_c_rand(SEED)
    search.setBaseImage(cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2BGR))
    if quality:
        search.switchToSelectiveSearchQuality()
    else:
        search.switchToSelectiveSearchFast()
    rects = np.asarray(search.process(), np.float32).reshape(-1, 4)  # x, y, w, h
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
    keep = (rects[:, 2] >= MIN_SIDE) & (rects[:, 3] >= MIN_SIDE)
    return np.ascontiguousarray(boxes[keep][:max_proposals])


def selective_search_many(images: Sequence[np.ndarray], max_proposals: int = 2000, workers: int = 1,
                          quality: bool = False) -> list[np.ndarray]:
    """``selective_search`` of every image, over ``workers`` processes (it is single-threaded)."""
    if workers <= 1 or len(images) < 2:
        return [selective_search(img, max_proposals, quality) for img in images]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(selective_search, images, [max_proposals] * len(images), [quality] * len(images),
                             chunksize=max(1, len(images) // (4 * workers))))


def padded_proposals(canvases: np.ndarray, count: int) -> np.ndarray:
    """The ``rois`` input of a Fast R-CNN file: each canvas's first ``count`` proposals, [B, count, 4]
    float32, zero rows past them (empty boxes, which the graph masks out)."""
    rois = np.zeros((len(canvases), count, 4), np.float32)
    for i, canvas in enumerate(canvases):
        boxes = selective_search(canvas, count)
        rois[i, :len(boxes)] = boxes
    return rois
