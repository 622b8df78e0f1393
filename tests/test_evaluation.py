"""COCO evaluation: the ground truth scored as predictions is a perfect 1.0 (pycocotools)."""

from __future__ import annotations

import numpy as np
import pytest

from edgedet.data.coco import load_split
from edgedet.evaluation.coco_eval import coco_metrics, detections_to_coco
from edgedet.runtime.detections import Detections


def test_ground_truth_scores_one(synth_data):
    data = load_split(synth_data, "val")
    results = []
    for r in data.images:
        results += detections_to_coco(data, r.id, Detections(r.boxes, np.ones(len(r.boxes)), r.labels))
    metrics = coco_metrics(data, results)
    assert metrics["map"] == pytest.approx(1.0)
    assert metrics["map50"] == pytest.approx(1.0)


def test_shifted_boxes_score_lower(synth_data):
    data = load_split(synth_data, "val")
    results = []
    for r in data.images:
        shifted = r.boxes + (r.boxes[:, 2:] - r.boxes[:, :2]).repeat(2, axis=1) * 0.3
        results += detections_to_coco(data, r.id, Detections(shifted, np.ones(len(r.boxes)), r.labels))
    metrics = coco_metrics(data, results)
    assert metrics["map"] < 0.6
