"""The exported file itself: the contract's I/O, no control flow, our node and its function body,
metadata, and the same numbers from onnxruntime and onnx.reference."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx.reference import ReferenceEvaluator

from edgedet.export.roi_align_function import ATTRIBUTE_TYPES, build_function
from edgedet.export.roi_spec import DOMAIN, OP_TYPE, RoIAlignSpec
from edgedet.runtime.model_metadata import ModelMetadata


@pytest.fixture(scope="module")
def proto(seeded_onnx):
    return onnx.load(seeded_onnx)


def _all_nodes(model):
    yield from model.graph.node
    for f in model.functions:
        yield from f.node


def test_io_contract(proto):
    (inp,) = proto.graph.input
    assert inp.name == "images"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [128, 128, 3]
    outs = {o.name: o.type.tensor_type for o in proto.graph.output}
    assert list(outs) == ["num_detections", "boxes", "scores", "labels"]
    assert outs["num_detections"].elem_type == onnx.TensorProto.INT32
    assert outs["boxes"].elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in outs["boxes"].shape.dim[1:]] == [100, 4]
    assert outs["labels"].elem_type in (onnx.TensorProto.INT32, onnx.TensorProto.INT64)


def test_no_control_flow_and_static_intermediates(proto):
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"If", "Loop", "Scan", "Split", "NonZero"}
    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    # NonMaxSuppression's selected-index list is the one data-dependent size: it (and the
    # count/ones made from it) only feeds the ScatterND that turns it into a fixed-size mask.
    consumers = {}
    for node in inferred.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    exempt, stack = set(), [o for n in inferred.graph.node if n.op_type == "NonMaxSuppression" for o in n.output]
    while stack:
        name = stack.pop()
        if name in exempt:
            continue
        exempt.add(name)
        for node in consumers.get(name, []):
            if node.op_type != "ScatterND":
                stack.extend(node.output)
    for vi in inferred.graph.value_info:
        if vi.name in exempt:
            continue
        dims = vi.type.tensor_type.shape.dim
        symbolic = [d.dim_param for d in dims if not d.HasField("dim_value")]
        # only the batch may be symbolic (products such as '1020*batch' included)
        assert all(re.fullmatch(r"(\d+\*)?batch(\*\d+)?", s) for s in symbolic), (vi.name, symbolic)


def test_custom_node_and_local_function(proto):
    nodes = [n for n in proto.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    assert len(nodes) == 1
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert set(attrs) == set(ATTRIBUTE_TYPES)
    assert attrs["plugin_namespace"] == b"edgedet"
    assert list(attrs["strides"]) == [8, 16, 32]
    assert attrs["sampling_ratio"] == 2 and attrs["aligned"] == 0 and attrs["mode"] == b"align"
    (fn,) = [f for f in proto.functions if f.domain == DOMAIN and f.name == OP_TYPE]
    # a 128-pixel canvas is a small pyramid: the separable lowering, no routing, no RoiAlign
    ops = {n.op_type for n in fn.node}
    assert "MatMul" in ops and not ops & {"RoiAlign", "NonZero", "ScatterND"}
    # the direct lowering of the same node writes RoiAlign with torchvision's coordinate convention
    spec = RoIAlignSpec.from_attributes(attrs)
    assert spec.node_attributes() == {k: (v.decode() if isinstance(v, bytes) else
                                          list(v) if isinstance(v, (list, tuple)) else v) for k, v in attrs.items()}
    direct = build_function(spec, 18)
    roi_aligns = [n for n in direct.node if n.op_type == "RoiAlign"]
    assert len(roi_aligns) == 3
    for node, stride in zip(roi_aligns, [8, 16, 32]):
        a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
        assert a["coordinate_transformation_mode"] == b"output_half_pixel"
        assert a["sampling_ratio"] == 2 and a["output_height"] == 7 and a["output_width"] == 7
        assert a["spatial_scale"] == pytest.approx(1 / stride)
    assert {o.domain: o.version for o in proto.opset_import}[""] >= 16


@pytest.mark.slow
def test_metadata(edge_onnx, trained):
    proto = onnx.load(edge_onnx, load_external_data=False)
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert meta.canvas == (128, 128)
    assert meta.class_names == ("__background__", "circle", "square", "triangle", "cross")
    assert meta.architecture == "fasterrcnn_edge_fpn"
    assert meta.channel_order == "RGB" and meta.batch is None
    assert meta.source_sha256 == hashlib.sha256(trained.best.read_bytes()).hexdigest()
    assert meta.score_thresh == pytest.approx(0.05) and meta.max_detections == 100


def test_reference_evaluator_agrees_with_onnxruntime(seeded_onnx, synth_data):
    from edgedet.runtime.images import read_rgb

    image = read_rgb(next((synth_data / "val" / "images").iterdir()))[None]
    sess = ort.InferenceSession(str(seeded_onnx), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": image})
    ref = ReferenceEvaluator(str(seeded_onnx)).run(None, {"images": image})
    n = int(got[0][0])
    assert int(ref[0][0]) == n and n > 0
    np.testing.assert_allclose(ref[1][0, :n], got[1][0, :n], atol=1e-3)
    np.testing.assert_allclose(ref[2][0, :n], got[2][0, :n], atol=1e-4)
    np.testing.assert_array_equal(ref[3][0, :n], got[3][0, :n])


@pytest.mark.slow
def test_inline_variant_matches(trained, edge_onnx, tmp_path, synth_data):
    from edgedet.checkpoints import model_from_checkpoint
    from edgedet.export.onnx_export import ExportOptions, export_onnx
    from edgedet.runtime.images import read_rgb

    model, meta = model_from_checkpoint(trained.best)
    flat = export_onnx(model, meta.model_metadata(), tmp_path / "flat.onnx",
                       ExportOptions((128, 128), batch=2, inline_functions=True))
    proto = onnx.load(flat)
    assert not proto.functions and not any(n.domain == DOMAIN for n in proto.graph.node)
    images = np.stack([read_rgb(p) for p in sorted((synth_data / "val" / "images").iterdir())[:2]])
    a = ort.InferenceSession(str(flat)).run(None, {"images": images})
    b = ort.InferenceSession(str(edge_onnx)).run(None, {"images": images})
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-4)
