"""The torch-free ONNX Runtime Detector: letterbox in, frame pixels out, same as the eager model."""

from __future__ import annotations

import numpy as np
import pytest

from edgedet.checkpoints import model_from_checkpoint
from edgedet.eager_detector import TorchDetector
from edgedet.export.parity import compare
from edgedet.runtime.letterbox import letterbox, unletterbox_boxes
from edgedet.runtime.onnx_detector import OnnxDetector


def test_letterbox_places_top_left_and_inverts():
    frame = np.random.default_rng(0).integers(0, 255, (60, 200, 3), dtype=np.uint8)
    canvas, scale = letterbox(frame, (128, 128))
    assert scale == pytest.approx(128 / 200)
    nh = round(60 * scale)
    assert (canvas[nh:] == 114).all() and (canvas[:nh, :] != 114).any()
    boxes = np.array([[10, 5, 100, 50], [150, 0, 260, 80]], np.float32)
    back = unletterbox_boxes(boxes * scale, scale, frame.shape[:2])
    np.testing.assert_allclose(back[0], boxes[0], rtol=1e-5)
    np.testing.assert_allclose(back[1], [150, 0, 200, 60], rtol=1e-5)  # clipped to the frame


@pytest.mark.parametrize("shape", [(128, 128), (96, 200), (300, 170)])
def test_onnx_detector_matches_eager_on_any_frame_size(seeded_export, synth_data, shape):
    import cv2

    from edgedet.runtime.images import read_rgb

    frame = cv2.resize(read_rgb(sorted((synth_data / "val" / "images").iterdir())[1]), shape[::-1])
    model, names, path = seeded_export("fasterrcnn_edge_fpn", (128, 128))
    onnx_det = OnnxDetector(path)
    eager = TorchDetector(model, names, onnx_det.canvas)
    a, b = eager([frame])[0], onnx_det([frame])[0]
    assert len(a) > 0
    r = compare("frame", (a.boxes, a.scores, a.labels), (b.boxes, b.scores, b.labels), 100)
    # every detection, the seeded model's boxes in the letterbox's padding too: cut to the frame, they have
    # no area, and match their twins by their corners (a 90 % bar here once blamed them on tied scores)
    assert r.ok, r
    assert b.boxes[:, 2].max() <= shape[1] and b.boxes[:, 3].max() <= shape[0]


def test_any_number_of_frames(seeded_onnx, synth_data):
    from edgedet.runtime.images import read_rgb

    frames = [read_rgb(p) for p in sorted((synth_data / "val" / "images").iterdir())[:5]]
    det = OnnxDetector(seeded_onnx)
    together = det(frames)
    alone = [det([f])[0] for f in frames]
    for x, y in zip(together, alone):
        np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-3)
        np.testing.assert_array_equal(x.labels, y.labels)


@pytest.mark.slow
def test_onnx_eval_matches_eager_eval(trained, edge_onnx, synth_data):
    from edgedet.data.coco import load_split
    from edgedet.evaluation.coco_eval import evaluate

    data = load_split(synth_data, "val")
    model, meta = model_from_checkpoint(trained.best)
    eager = evaluate(TorchDetector(model, meta.class_names, (128, 128)), data)
    onnx = evaluate(OnnxDetector(edge_onnx), data)
    assert abs(eager["map50"] - onnx["map50"]) <= 0.005
    assert abs(eager["map"] - onnx["map"]) <= 0.005

