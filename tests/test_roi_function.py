"""The standard-ONNX body of ``edgedet::MultiLevelRoIAlign`` against torchvision's own RoI ops.

The body is what onnxruntime and ``onnx.reference`` run in place of our node, in either of its
two lowerings (separable GEMMs for small pyramids, routed ``RoiAlign``/``MaxRoiPool`` for large
ones); both must be torchvision's RoI Align.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from torchvision.ops import roi_pool

from edgedet.export import roi_align_separable
from edgedet.export.roi_align_function import build_function, register_schema
from edgedet.export.roi_align_separable import prefer_separable
from edgedet.export.roi_spec import DOMAIN, OP_TYPE, RoIAlignSpec
from tests.roi_reference import IMAGE, STRIDES, per_level, pyramid, random_rois, reference

SIZES = [(IMAGE[0] // s, IMAGE[1] // s) for s in STRIDES]
REAL_FACTOR = roi_align_separable.DENSE_SPEED_FACTOR


@pytest.fixture(autouse=True)
def dense_whenever_sizes_are_given(monkeypatch):
    """Which lowering a pyramid gets is a speed threshold; both must be exact on any pyramid, so here
    every body built with level sizes is the separable one (the choice itself: the test below)."""
    monkeypatch.setattr(roi_align_separable, "DENSE_SPEED_FACTOR", 1e9)


def one_node_model(spec: RoIAlignSpec, feats, rois, level_sizes) -> onnx.ModelProto:
    register_schema()
    attrs = spec.node_attributes()
    names = [f"f{i}" for i in range(len(feats))]
    inputs = [helper.make_tensor_value_info("rois", TensorProto.FLOAT, list(rois.shape))]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(f.shape)) for n, f in zip(names, feats)]
    node = helper.make_node(OP_TYPE, ["rois", *names], ["pooled"], domain=DOMAIN, **attrs)
    out_shape = [*rois.shape[:2], feats[0].shape[1], 7, 7]
    graph = helper.make_graph([node], "roi", inputs, [helper.make_tensor_value_info("pooled", TensorProto.FLOAT,
                                                                                     out_shape)])
    fn = build_function(spec, 18, level_sizes=level_sizes)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)],
                              functions=[fn])
    onnx.checker.check_model(model, full_check=True)
    return model


def run_body(feats, rois, level_sizes, *, sampling_ratio=2, aligned=False, mode="align", engine="ort"):
    spec = RoIAlignSpec(tuple(STRIDES), 7, sampling_ratio, aligned, 224.0, 4, mode=mode)
    model = one_node_model(spec, feats, rois, level_sizes)
    feed = {"rois": rois.numpy(), **{f"f{i}": f.numpy() for i, f in enumerate(feats)}}
    if engine == "reference":
        return torch.from_numpy(ReferenceEvaluator(model).run(None, feed)[0])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return torch.from_numpy(sess.run(None, feed)[0])


def lowering_ops(level_sizes, **kw) -> set[str]:
    spec = RoIAlignSpec(tuple(STRIDES), 7, kw.get("sampling_ratio", 2), mode=kw.get("mode", "align"))
    return {n.op_type for n in build_function(spec, 18, level_sizes=level_sizes).node}


def test_lowering_choice_follows_the_canvas(monkeypatch):
    assert "MatMul" in lowering_ops(SIZES) and "RoiAlign" not in lowering_ops(SIZES)
    assert "RoiAlign" in lowering_ops(None) and "MatMul" not in lowering_ops(None)
    assert "MaxRoiPool" in lowering_ops(SIZES, mode="pool")
    assert "RoiAlign" in lowering_ops(SIZES, sampling_ratio=0)  # adaptive grids stay direct
    monkeypatch.setattr(roi_align_separable, "DENSE_SPEED_FACTOR", REAL_FACTOR)
    # mobilenet320's one 10x10 level is dense; the demo model's 32x32 + 16x16 (OpenVINO's RoiAlign is
    # 1.5x faster there) and a detector at 800 are direct
    assert prefer_separable([(10, 10)], (7, 7), 2) and prefer_separable([(20, 20), (10, 10)], (7, 7), 2)
    assert not prefer_separable([(32, 32), (16, 16)], (7, 7), 2)
    assert not prefer_separable([(200, 200), (100, 100), (50, 50), (25, 25)], (7, 7), 2)


@pytest.mark.parametrize("level_sizes", [SIZES, None], ids=["separable", "direct"])
def test_align_matches_multiscale_roi_align(level_sizes):
    feats, rois = pyramid(channels=6, batch=2), random_rois(2, 40)
    got = run_body(feats, rois, level_sizes)
    torch.testing.assert_close(got, reference(feats, rois), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("sampling_ratio", [1, 3, 0])
def test_sampling_ratios(sampling_ratio):
    feats, rois = pyramid(channels=3, batch=1), random_rois(1, 16, seed=3)
    got = run_body(feats, rois, SIZES, sampling_ratio=sampling_ratio)
    torch.testing.assert_close(got, reference(feats, rois, sampling_ratio), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("level_sizes", [SIZES, None], ids=["separable", "direct"])
def test_aligned_true(level_sizes):
    feats, rois = pyramid(channels=3, batch=1), random_rois(1, 16, seed=4)
    got = run_body(feats, rois, level_sizes, aligned=True)
    torch.testing.assert_close(got, reference(feats, rois, aligned=True), atol=1e-5, rtol=1e-5)


def test_pool_mode_matches_roi_pool_per_level():
    feats, rois = pyramid(channels=3, batch=2), random_rois(2, 20, seed=5)
    got = run_body(feats, rois, SIZES, mode="pool")
    want = per_level(feats, rois, lambda f, b, s: roi_pool(f, b, 7, s))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_reference_evaluator_runs_the_separable_body():
    feats, rois = pyramid(channels=2, batch=1), random_rois(1, 8, seed=8)
    got = run_body(feats, rois, SIZES, engine="reference")
    np.testing.assert_allclose(got.numpy(), reference(feats, rois).numpy(), atol=1e-5, rtol=1e-5)


def _body_on_ort(spec: RoIAlignSpec, feats, rois, level_sizes, roi_bound=None):
    register_schema()
    names = [f"f{i}" for i in range(len(feats))]
    fn = build_function(spec, 18, level_sizes=level_sizes, roi_bound=roi_bound)
    inputs = [helper.make_tensor_value_info("rois", TensorProto.FLOAT, list(rois.shape))]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(f.shape)) for n, f in zip(names, feats)]
    node = helper.make_node(OP_TYPE, ["rois", *names], ["pooled"], domain=DOMAIN, **spec.node_attributes())
    out_shape = [*rois.shape[:2], feats[0].shape[1], 7, 7]
    graph = helper.make_graph([node], "roi", inputs, [helper.make_tensor_value_info("pooled", TensorProto.FLOAT,
                                                                                     out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)],
                              functions=[fn])
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"rois": rois.numpy(), **{n: f.numpy() for n, f in zip(names, feats)}})[0]
    read = {i for n in fn.node for i in n.input}
    return torch.from_numpy(out), [i for i, n in enumerate(names) if n in read]


@pytest.mark.parametrize("level_sizes", [[(4, 3), (4, 3)], None], ids=["separable", "direct"])
def test_a_repeated_stride_is_never_read_and_the_result_is_torchvisions(level_sizes):
    """mobilenet_v3's FPN pools from two stride-32 maps: torchvision's mapper sends every RoI to the
    first, so the body has no nodes for the second."""
    from torchvision.ops import MultiScaleRoIAlign

    g = torch.Generator().manual_seed(4)
    feats = [torch.randn(2, 5, IMAGE[0] // 32, IMAGE[1] // 32, generator=g) for _ in range(2)]
    rois = random_rois(2, 30)
    spec = RoIAlignSpec((32, 32), 7, 2, False, 224.0, 4)
    got, read = _body_on_ort(spec, feats, rois, level_sizes)
    expected = MultiScaleRoIAlign(["0", "1"], 7, 2)({"0": feats[0], "1": feats[1]}, list(rois), [IMAGE] * 2)
    torch.testing.assert_close(got, expected.view(2, 30, 5, 7, 7), atol=1e-5, rtol=1e-5)
    assert read == [0]


def test_levels_past_the_canvas_are_dropped_and_the_result_is_torchvisions():
    """RoIs clipped to a 128x96 canvas are at most 111 px across: torchvision maps all of them to the
    finest of strides 4..32, so with the canvas as the bound only that level is pooled."""
    spec = RoIAlignSpec(tuple(STRIDES), 7, 2, False, 224.0, 4)
    assert spec.reachable_levels(None) == 4
    assert spec.reachable_levels(IMAGE) == 1
    assert spec.reachable_levels((320, 320)) == 3 and spec.reachable_levels((800, 800)) == 4
    assert RoIAlignSpec((32, 32)).reachable_levels(None) == 1
    feats = pyramid(channels=4, batch=2)
    rois = random_rois(2, 40, seed=5)
    h, w = IMAGE
    rois = torch.stack([rois[..., 0].clamp(0, w), rois[..., 1].clamp(0, h), rois[..., 2].clamp(0, w),
                        rois[..., 3].clamp(0, h)], dim=-1)  # as the RPN clips its proposals
    for level_sizes in (SIZES, None):
        got, read = _body_on_ort(spec, feats, rois, level_sizes, roi_bound=IMAGE)
        torch.testing.assert_close(got, reference(feats, rois), atol=1e-5, rtol=1e-5)
        assert read == [0]
