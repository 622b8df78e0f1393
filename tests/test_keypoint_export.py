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
from onnx.reference import ReferenceEvaluator

from edgedet.architectures.seeded import seeded_model
from edgedet.checkpoints import default_pose
from edgedet.eager_detector import TorchDetector
from edgedet.export.check import compare_detectors, parity_images
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.export.plugins.trt_plugin import PLUGIN_FIELDS
from edgedet.export.roi_spec import DOMAIN, OP_TYPE
from edgedet.export.stage_map import node_stages
from edgedet.export.tensorrt_build import plugin_graph
from edgedet.runtime.detections import Pose
from edgedet.runtime.model_metadata import ModelMetadata
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.profiling import operator_profile

pytestmark = pytest.mark.slow
CANVAS = (128, 128)
DETECTIONS = 12  # onnx.reference's convolutions are slow: a small K keeps its run to seconds


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = seeded_model("keypointrcnn_edge_fpn", 2, CANVAS, seed=0)
    model.roi_heads.detections_per_img = DETECTIONS  # eager and export alike
    path = tmp_path_factory.mktemp("kp") / "kp.onnx"
    names, skeleton = default_pose(17)
    export_onnx(model, ModelMetadata("keypointrcnn_edge_fpn", ("__background__", "person"), CANVAS,
                                     keypoint_names=names, skeleton=skeleton), path, ExportOptions(CANVAS, batch=None))
    images = [(name, cv2.resize(img, CANVAS[::-1], interpolation=cv2.INTER_AREA))
              for name, img in parity_images(CANVAS, synthetic=2, photos=True, task="keypoints")][:4]
    return model, path, images


def test_keypoints_match_eager_at_batch_1_and_4(exported):
    """The parity check (every detection matched, IoU and score as for Faster R-CNN) with joints: at
    least 99 % within 1 px and 1e-3 of eager, at batch 1 and at batch 4; padded rows are zero."""
    model, path, images = exported
    eager = TorchDetector(model, ("__background__", "person"), CANVAS, pose=Pose.of(*default_pose(17)))
    with OnnxDetector(path) as detector:
        assert detector.pose.names == default_pose(17)[0]  # the joints travel in the file's metadata
        report = compare_detectors(detector, eager, images, batch=4).summary()
        outputs = detector.infer(np.stack([img for _, img in images]))
    assert report["ok"], report
    assert report["missing"] == report["extra"] == 0 and report["matched"] == report["reference_detections"] > 0
    for key in ("joints", "batch_joints"):
        assert report[key]["total"] == 17 * report["matched"] and report[key]["share"] >= 0.99, report[key]
    assert outputs["keypoints"].shape[1:] == (DETECTIONS, 17, 3)
    for i, n in enumerate(outputs["num_detections"]):
        assert not outputs["keypoints"][i, n:].any()  # padded rows are zero


def test_graph_is_static_and_reference_agrees(exported):
    _, path, named = exported
    images = np.stack([img for _, img in named])
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


def test_profile_times_the_keypoint_branch_as_its_own_stage(exported):
    _, path, named = exported
    stages = node_stages(path)
    proto = onnx.load(str(path))
    second_roi = next(n for n in proto.graph.node if n.overload == "keypoints")
    first_roi = next(n for n in proto.graph.node if n.domain == "edgedet" and not n.overload)
    assert stages[second_roi.name] == "keypoints" and stages[first_roi.name] == "roi_align"
    assert {stages[n.name] for n in proto.graph.node if n.op_type == "ConvTranspose"} == {"keypoints"}
    profile = operator_profile(path, [img for _, img in named], 1, 2, threads=2, stages=stages)["stages"]
    assert {"backbone", "rpn", "roi_align", "roi_head", "keypoints"} <= set(profile)
    assert profile["keypoints"]["ms"] > 0 and profile.get("other", {"pct": 0.0})["pct"] < 3.0, profile


def test_tensorrt_sees_two_nodes_of_the_one_plugin(exported):
    """What TensorRT parses: both RoI Align nodes (box head 7x7, keypoint head 14x14) kept with their
    attributes as the plugin's fields, and neither function overload left to import them through."""
    _, path, _ = exported
    parsed = onnx.load_from_string(plugin_graph(path))
    nodes = [n for n in parsed.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    sizes = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}["output_height"] for n in nodes]
    assert sizes == [7, 14]
    assert all({a.name for a in n.attribute} >= set(PLUGIN_FIELDS) for n in nodes)
    assert not any(f.domain == DOMAIN for f in parsed.functions)
