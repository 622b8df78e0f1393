"""A Keypoint R-CNN exported to one static file (two MultiLevelRoIAlign nodes, the static heatmap
decode) against eager torchvision on real photos and synthetic images, at batch 1 and 4; the graph
has no Loop/If and onnx.reference agrees with onnxruntime. The seeded keypointrcnn_resnet50_fpn
runs in ``bench/parity_all.py`` (a minute here): this is the edge keypoint model, small and fast."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import onnx.inliner
import onnx.utils
import onnxruntime as ort
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from edgedet.architectures.seeded import seeded_model
from edgedet.export.check import parity_images
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.runtime.model_metadata import ModelMetadata

pytestmark = pytest.mark.slow
CANVAS = (128, 128)
DETECTIONS = 12  # onnx.reference's convolutions are slow: a small K keeps its run to seconds


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = seeded_model("keypointrcnn_edge_fpn", 2, CANVAS, seed=0)
    model.roi_heads.detections_per_img = DETECTIONS  # eager and export alike
    path = tmp_path_factory.mktemp("kp") / "kp.onnx"
    export_onnx(model, ModelMetadata("keypointrcnn_edge_fpn", ("__background__", "person"), CANVAS), path,
                ExportOptions(CANVAS, batch=None))
    images = [cv2.resize(img, CANVAS[::-1], interpolation=cv2.INTER_AREA)
              for _, img in parity_images(CANVAS, synthetic=2, photos=True)][:4]
    return model, path, np.stack(images)


def run_onnx(path, images: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": images})))


@pytest.mark.parametrize("batch", [1, 4])
def test_keypoints_match_eager(exported, batch):
    model, path, images = exported
    with torch.no_grad():
        eager = model([torch.from_numpy(im).permute(2, 0, 1).float() / 255 for im in images])
    outputs = {}
    for start in range(0, len(images), batch):
        part = run_onnx(path, images[start:start + batch])
        for name, value in part.items():
            outputs.setdefault(name, []).append(value)
    outputs = {name: np.concatenate(values) for name, values in outputs.items()}
    assert outputs["keypoints"].shape[1:] == (DETECTIONS, 17, 3)
    near = total = 0
    for i, ref in enumerate(eager):
        n = int(outputs["num_detections"][i])
        assert n == len(ref["boxes"]) > 0  # every eager detection, in the same order
        np.testing.assert_allclose(outputs["boxes"][i, :n], ref["boxes"].numpy(), atol=1e-3, rtol=0)
        np.testing.assert_array_equal(outputs["labels"][i, :n], ref["labels"].numpy())
        ours = outputs["keypoints"][i, :n]
        dist = np.abs(ours[..., :2] - ref["keypoints"].numpy()[..., :2]).max(-1)
        near += ((dist <= 1.0) & (np.abs(ours[..., 2] - ref["keypoints_scores"].numpy()) <= 1e-3)).sum()
        total += dist.size
        assert not outputs["keypoints"][i, n:].any()  # padded rows are zero
    assert near >= 0.99 * total, f"{near} of {total} joints within 1 px and 1e-3 of eager"


def test_graph_is_static_and_reference_agrees(exported):
    _, path, images = exported
    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node} | {n.op_type for f in proto.functions for n in f.node}
    assert not ops & {"Loop", "If", "Scan"}
    roi = [(n.op_type, n.overload) for n in proto.graph.node if n.domain == "edgedet"]
    assert roi == [("MultiLevelRoIAlign", ""), ("MultiLevelRoIAlign", "keypoints")]
    # onnx.reference runs the keypoint branch (from the second RoI Align node's inputs to the
    # keypoints; the whole graph would take it minutes) on the values onnxruntime computed up to there.
    # It ignores function overloads; the inliner resolves them (as for OpenVINO).
    node = next(n for n in proto.graph.node if n.overload == "keypoints")
    inputs = list(node.input) + ["num_detections", "images"]  # the padding mask, the batch size
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in node.input)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    values = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": images[:1]})))
    values["images"] = images[:1]
    branch = onnx.utils.Extractor(onnx.inliner.inline_local_functions(proto)).extract_model(inputs, ["keypoints"])
    got = ReferenceEvaluator(branch).run(None, {name: values[name] for name in inputs})[0]
    n = int(values["num_detections"][0])
    assert n > 0
    np.testing.assert_allclose(got[0, :n], values["keypoints"][0, :n], atol=1e-3, rtol=0)
