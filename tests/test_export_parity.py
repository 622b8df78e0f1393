"""Exported files against the eager model: the trained edge model at batch 1 and 4, a fixed-batch file, a
proposal budget, and the comparison's own rules (torchvision's architectures: test_export_parity_torchvision.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgedet.checkpoints import model_from_checkpoint
from edgedet.eager_detector import TorchDetector
from edgedet.export.check import check_parity, parity_images
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.export.parity import compare


def _assert_parity(report):
    summary = report.summary()
    assert summary["reference_detections"] > 0, "nothing detected: the check would be vacuous"
    assert summary["missing"] == 0 and summary["extra"] == 0, summary
    assert summary["iou_min"] >= 0.99 and summary["score_diff_max"] <= 1e-3, summary
    assert report.batch_consistent in (True, None), summary


@pytest.mark.slow
def test_trained_edge_model(trained, edge_onnx):
    model, meta = model_from_checkpoint(trained.best)
    eager = TorchDetector(model, meta.class_names, meta.canvas)
    report = check_parity(edge_onnx, eager, parity_images((128, 128), synthetic=6), batch=4)
    _assert_parity(report)
    assert report.batch_consistent is True


@pytest.mark.slow
def test_fixed_batch_file(trained, tmp_path):
    model, meta = model_from_checkpoint(trained.best)
    path = export_onnx(model, meta.model_metadata(), tmp_path / "b2.onnx", ExportOptions((128, 128), batch=2))
    eager = TorchDetector(model, meta.class_names, meta.canvas)
    _assert_parity(check_parity(path, eager, parity_images((128, 128), synthetic=3, photos=False)))


def test_compare_reports_ties_at_cutoff_and_errors():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    ref = (boxes[:2], np.array([0.9, 0.5], np.float32), np.array([1, 1]))
    tie = (boxes[[0, 2]], np.array([0.9, 0.5], np.float32), np.array([1, 1]))
    r = compare("tie", ref, tie, max_detections=2)
    assert r.ties_at_cutoff == 2 and r.missing == 0 and r.extra == 0 and r.ok
    r = compare("miss", ref, tie, max_detections=100)
    assert r.missing == 1 and r.extra == 1 and not r.ok
    shifted = (boxes[:2] + 0.5, ref[1], ref[2])
    r = compare("shift", ref, shifted, max_detections=100)
    assert r.min_iou < 0.99 and not r.ok
    r = compare("label", ref, (ref[0], ref[1], np.array([2, 1])), max_detections=100)
    assert r.missing == 1 and r.extra == 1


def test_compare_matches_boxes_with_no_area_by_their_corners():
    """A detection in the letterbox's padding, cut to the frame, has no height: its IoU with its twin is 0/0,
    so only its corners say it is the same box; a flat box elsewhere, or of another label, is not."""
    flat = np.array([[10, 96, 50, 96], [60, 96, 90, 96]], np.float32)  # on a 96-pixel frame's bottom edge
    ref = (flat, np.array([0.4, 0.3], np.float32), np.array([2, 2]))
    r = compare("flat", ref, (flat + np.float32(1e-4), ref[1], ref[2]), max_detections=100)
    assert r.matched == 2 and r.ok
    r = compare("flat moved", ref, (flat + np.array([5, 0, 5, 0], np.float32), ref[1], ref[2]), max_detections=100)
    assert r.missing == 2 and r.extra == 2 and not r.ok
    r = compare("flat label", ref, (flat, ref[1], np.array([2, 3])), max_detections=100)
    assert r.matched == 1 and r.missing == 1 and r.extra == 1


@pytest.mark.slow
def test_proposal_budget_export_matches_eager_at_that_budget(trained, tmp_path):
    """``export --proposals``: the budget is applied to the model, so its export matches the eager model run
    at the same budget; the file records it, and ``check`` reads it from the file (one export, both ways)."""
    from edgedet.architectures import set_proposal_budget
    from edgedet.export.check import compare_detectors
    from edgedet.runtime.onnx_detector import OnnxDetector
    from tests.conftest import cli

    model, meta = model_from_checkpoint(trained.best)
    pre, post = set_proposal_budget(model, 20)
    assert post == 20 and pre == round(500 * 20 / 200)  # the edge architecture's 500 pre / 200 post, scaled
    path = tmp_path / "p20.onnx"
    r = cli("export", trained.best, "-o", path, "--proposals", "20", "--dynamic-batch")
    assert r.returncode == 0, r.stderr
    with OnnxDetector(path) as det:
        assert det.meta.extra["rpn_post_nms_top_n"] == 20 and det.meta.extra["rpn_pre_nms_top_n"] == pre
        _assert_parity(compare_detectors(det, TorchDetector(model, meta.class_names, meta.canvas),
                                         parity_images((128, 128), synthetic=4, photos=False), batch=4))
    r = cli("check", path, "--weights", trained.best, "--json")  # the checkpoint as saved: full budget
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"]
