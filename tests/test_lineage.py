"""``edgedet lineage`` end to end on a tiny data set and budget (every method runs, every row is scored
by pycocotools), and the Fast R-CNN file against its eager model, run by the torch-free runtime."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgedet.data.synthetic import render_image
from edgedet.export.check import compare_detectors
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.lineage.fast_rcnn import FastRCNN, fast_rcnn_detector
from edgedet.lineage.method_detector import ProposalCache
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_metadata import ModelMetadata
from edgedet.runtime.onnx_detector import OnnxDetector
from tests.conftest import cli

pytestmark = pytest.mark.slow
NAMES = ("__background__", "circle", "square", "triangle", "cross")


def test_fast_rcnn_file_matches_eager_and_runs_without_torch(tmp_path):
    """The file against its eager model on the same proposals (the eager model's cache, so the check compares
    the networks), then the file alone in a process where torch cannot import, fed those proposals."""
    canvas = (128, 128)
    torch.manual_seed(0)
    model = FastRCNN(len(NAMES), canvas).eval()
    with torch.no_grad():  # a spread class head: random weights would score every RoI alike
        model.roi_heads.box_predictor.cls_score.weight.mul_(20)
    path = export_onnx(model, ModelMetadata("fast_rcnn_edge", NAMES, canvas), tmp_path / "fast.onnx",
                       ExportOptions(canvas, batch=None, rois=200))
    rng = np.random.default_rng(5)
    images = [(f"s{i}", render_image(rng, canvas)[0]) for i in range(4)]
    cache = ProposalCache(0.0, 200)
    eager = fast_rcnn_detector(model, cache, NAMES, canvas, max_rois=200)
    with OnnxDetector(path, proposals=cache.padded) as detector:
        report = compare_detectors(detector, eager, images, batch=2).summary()
        expected = detector([images[0][1]])[0]
    assert report["ok"] and report["matched"] == report["reference_detections"] > 0, report
    np.save(tmp_path / "frame.npy", images[0][1])
    np.save(tmp_path / "rois.npy", cache.padded(images[0][1][None], 200))  # the frame is already a canvas
    code = ("import sys; sys.modules['torch'] = None\n"  # any torch import fails
            "import numpy as np, json\n"
            "from edgedet.runtime.loader import load_detector\n"
            f"rois = np.load({str(tmp_path / 'rois.npy')!r})\n"
            f"d = load_detector({str(path)!r}, proposals=lambda canvases, count: rois)\n"
            f"d = d([np.load({str(tmp_path / 'frame.npy')!r})])[0]\n"
            "print(json.dumps({'n': len(d), 'scores': d.scores.tolist()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["n"] == len(expected)
    np.testing.assert_allclose(result["scores"], expected.scores, atol=1e-6)


def test_a_rois_file_needs_a_proposal_source(tmp_path):
    canvas = (64, 64)
    torch.manual_seed(0)
    path = export_onnx(FastRCNN(len(NAMES), canvas).eval(), ModelMetadata("fast_rcnn_edge", NAMES, canvas),
                       tmp_path / "fast.onnx", ExportOptions(canvas, batch=None, rois=8))
    with pytest.raises(EdgedetError, match="takes its region proposals as an input"):
        OnnxDetector(path)


def test_lineage_runs_every_method(tmp_path):
    out = tmp_path / "lineage"
    # the smallest run the command allows; the Fast R-CNN file has its own test above
    r = cli("lineage", "--out", out, "--count", "20", "--imgsz", "96", "--budget-min", "0.1", "--no-export",
            "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    methods = [row["method"] for row in report["rows"]]
    assert methods == ["single_object", "sliding_window_adaboost", "selective_search", "rcnn", "rcnn_no_bbox_reg",
                       "fast_rcnn", "faster_rcnn_align", "faster_rcnn_pool", "faster_rcnn_pretrained"]
    for row in report["rows"]:
        assert "map50" in row and "s_per_image" in row, row
        if row["method"] not in ("single_object", "selective_search"):
            # pycocotools' AP at IoU .5 bounds its average over .5:.95 from above, per class and so overall
            assert row["map"] <= row["map50"] and row["s_per_image"] > 0, row
    ss = report["rows"][2]
    assert 0 < ss["recall@2000_iou0.5"] <= 1 and ss["proposals_per_image"] > 0
    assert set(report["orderings"]) == {
        "fast_rcnn_faster_than_rcnn", "rpn_recall_beats_selective_search_at_equal_count", "box_regression_raises_map",
        "roi_align_beats_roi_pool", "pretrained_beats_scratch"}
    assert (out / "lineage.png").stat().st_size > 10_000 and (out / "lineage.json").is_file()
