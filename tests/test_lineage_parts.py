"""The lineage's parts against independent oracles: RoI Pool against torchvision's ``roi_pool``, R-CNN's
box targets against the paper's inverse, proposal recall on hand-made cases, selective search on a
synthetic image, and the HOG window layout against scikit-image on the window itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.feature import hog
from torchvision.ops import MultiScaleRoIAlign, roi_pool

from edgedet.architectures.roi_pool import MultiScaleRoIPool
from edgedet.data.synthetic import render_image
from edgedet.lineage.rcnn import apply_targets, box_targets
from edgedet.lineage.recall import proposal_recall, recall_with_counts
from edgedet.lineage.sliding_window import HOG_ARGS, WINDOW, window_descriptors
from edgedet.runtime.selective_search import selective_search


def _features_and_boxes(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = {"0": torch.randn(2, 8, 32, 32, generator=g), "1": torch.randn(2, 8, 16, 16, generator=g)}
    xy = torch.rand(2, 30, 2, generator=g) * 100
    wh = torch.rand(2, 30, 2, generator=g) * 120 + 4
    boxes = [torch.cat([xy[i], (xy[i] + wh[i]).clamp(max=127)], 1) for i in range(2)]
    return features, boxes


def test_roi_pool_one_level_is_torchvisions():
    features, boxes = _features_and_boxes()
    got = MultiScaleRoIPool(["0"], 7, 0)(features, boxes, [(128, 128)] * 2)
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(boxes)])
    torch.testing.assert_close(got, roi_pool(features["0"], rois, 7, 0.25), rtol=0, atol=0)


def test_roi_pool_levels_follow_torchvisions_mapper():
    features, boxes = _features_and_boxes(1)
    pooler = MultiScaleRoIPool(["0", "1"], 7, 0, canonical_scale=32)  # small boxes: spread over both levels
    got = pooler(features, boxes, [(128, 128)] * 2)
    align = MultiScaleRoIAlign(["0", "1"], 7, 2, canonical_scale=32)
    align(features, boxes, [(128, 128)] * 2)  # sets up torchvision's scales and level mapper
    levels = align.map_levels(boxes)
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(boxes)])
    assert set(levels.tolist()) == {0, 1}  # both levels used
    for level, (name, scale) in enumerate(zip(("0", "1"), align.scales)):
        chosen = levels == level
        torch.testing.assert_close(got[chosen], roi_pool(features[name], rois[chosen], 7, scale), rtol=0, atol=0)


def test_box_targets_invert():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 50, (20, 2)), rng.uniform(60, 120, (20, 2))], 1).astype(np.float32)
    g = p + rng.uniform(-8, 8, (20, 4)).astype(np.float32)
    np.testing.assert_allclose(apply_targets(p, box_targets(p, g)), g, atol=1e-3)
    assert np.allclose(box_targets(g, g), 0)


def test_proposal_recall_counts_and_thresholds():
    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)]
    proposals = [np.array([[0, 0, 10, 10], [20, 20, 40, 44], [50, 50, 60, 60]], np.float32)]
    r = proposal_recall(proposals, gt, counts=(1, 3), ious=(0.5, 0.9))
    assert r["recall@1_iou0.5"] == 0.5 and r["recall@3_iou0.5"] == 1.0
    assert r["recall@3_iou0.9"] == 0.5  # 400/480 = 0.83 IoU for the taller box
    assert r["proposals_per_image"] == 3
    assert recall_with_counts(proposals, gt, [1]) == {"recall_iou0.5": 0.5, "recall_iou0.7": 0.5}


def test_selective_search_finds_the_shapes():
    image, anns = render_image(np.random.default_rng(3), (192, 192))
    boxes = selective_search(image, 2000)
    gt = np.array([[x, y, x + w, y + h] for _, x, y, w, h, _ in anns], np.float32)
    assert boxes.shape[1] == 4 and 20 < len(boxes) <= 2000
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert proposal_recall([boxes], [gt])["recall@2000_iou0.5"] >= 0.5


@pytest.mark.parametrize("window", [32.0, 64.0])
def test_window_descriptors_are_hog_of_each_window(window):
    """A window's descriptor is scikit-image's HOG of that window of the resized image (interior
    windows: HOG's gradient at a window's border sees the neighbouring pixels in the whole image)."""
    import cv2

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.uniform(0, 1, (128, 128)).astype(np.float32), (5, 5), 1.5)
    desc, boxes = window_descriptors(image, window)
    scale = WINDOW / window
    resized = cv2.resize(image, (round(128 * scale), round(128 * scale)),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    blocks = hog(resized, feature_vector=False, **HOG_ARGS)
    i = len(desc) // 2
    x, y = (boxes[i, :2] * scale).round().astype(int)
    expected = blocks[y // 8:y // 8 + 3, x // 8:x // 8 + 3].reshape(-1)
    np.testing.assert_allclose(desc[i], expected, rtol=0, atol=0)


def test_selective_search_is_a_function_of_the_image():
    """The same boxes in the same order on every call (OpenCV's random ranking, seeded)."""
    image, _ = render_image(np.random.default_rng(4), (128, 128))
    first = selective_search(image)
    for _ in range(3):
        np.testing.assert_array_equal(selective_search(image), first)
