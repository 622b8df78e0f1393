"""Everything of the TensorRT path that can run without TensorRT, and the parts that need it (marked)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from edgedet.export.calibration import calibration_batches, read_cache
from edgedet.export.plugins.trt_plugin import PLUGIN_FIELDS, plugin_signatures, type_combinations
from edgedet.export.roi_align_function import ATTRIBUTE_TYPES
from edgedet.export.roi_spec import DOMAIN, OP_TYPE, PARSER_ONLY_ATTRIBUTES
from edgedet.export.tensorrt_build import (
    BuildOptions,
    build_plan,
    calibration_feed,
    check_precision_support,
    onnx_facts,
    plugin_graph,
)
from edgedet.runtime.engine_manifest import EngineManifest, check_compatible, read_manifest, write_manifest
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.letterbox import letterbox
from tests.conftest import assert_one_line_error, cli

# What onnx-tensorrt's plugin importer hands over per ONNX attribute type (a one-element array for INT
# and FLOAT), and so what the plugin declares.
ONNX_TO_FIELD = {onnx.defs.OpSchema.AttrType.INT: np.int32, onnx.defs.OpSchema.AttrType.FLOAT: np.float32,
                 onnx.defs.OpSchema.AttrType.STRING: str, onnx.defs.OpSchema.AttrType.INTS: np.int32}


def test_plugin_fields_are_the_node_attributes(seeded_onnx):
    node = next(n for n in onnx.load(seeded_onnx).graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE)
    written = {a.name for a in node.attribute}
    assert set(PLUGIN_FIELDS) | set(PARSER_ONLY_ATTRIBUTES) == written
    for name, kind in PLUGIN_FIELDS.items():
        expected = ONNX_TO_FIELD[ATTRIBUTE_TYPES[name]]
        if expected is str:
            assert kind is str, name
        else:  # numpy.typing.NDArray[dtype]
            assert kind.__origin__ is np.ndarray and kind.__args__[1].__args__[0] is expected, (name, kind)
    assert {a.name: a.s for a in node.attribute}["plugin_namespace"] == b"edgedet"


class _Annotations:
    """The four tensorrt.plugin classes the signatures are annotated with (TensorRT is not installed here)."""

    class TensorDesc: ...
    class AutoTuneCombination: ...
    class KernelLaunchParams: ...
    class SymIntExprs: ...


def test_plugin_signatures_follow_tensorrt_plugin_rules():
    """tensorrt.plugin checks names and order at registration and calls aot_impl positionally."""
    import inspect
    import typing

    levels = 4
    sigs = plugin_signatures(levels, _Annotations)
    inputs = ["rois", "f0", "f1", "f2", "f3"]
    assert list(sigs["register"].parameters) == inputs + list(PLUGIN_FIELDS)
    assert list(sigs["autotune"].parameters) == inputs + ["outputs"]
    assert list(sigs["aot_impl"].parameters) == inputs + list(PLUGIN_FIELDS) + ["outputs", "tactic"]
    for sig in sigs.values():
        for param in sig.parameters.values():
            assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and param.default is inspect.Parameter.empty
            assert param.annotation is not inspect.Parameter.empty
    assert sigs["register"].return_annotation is _Annotations.TensorDesc
    assert typing.get_origin(sigs["autotune"].return_annotation) is list
    ret = typing.get_args(sigs["aot_impl"].return_annotation)
    assert len(ret) == 4 and ret[2] is _Annotations.KernelLaunchParams and ret[3] is _Annotations.SymIntExprs
    # TensorRT's own call: input descs, every field value in registration order, outputs, tactic
    values = [7, 7, 2, 0, 224.0, 4, np.array([4, 8, 16, 32], np.int32), 1e-6, "align"]
    bound = sigs["aot_impl"].bind(*inputs, *values, ("out",), 0).arguments
    assert bound["strides"] is values[6] and bound["mode"] == "align" and bound["tactic"] == 0
    # RoIs stay fp32, levels and output switch together: 1 + 4 + 1 positions
    assert type_combinations(levels) == "FP32, " + ", ".join(["FP32|FP16"] * 5)


def test_plugin_graph_keeps_the_node_and_drops_its_function(seeded_onnx):
    """What TensorRT parses: the same graph, the custom node for the plugin, no local function to prefer."""
    original = onnx.load(seeded_onnx)
    parsed = onnx.load_from_string(plugin_graph(seeded_onnx))
    assert any(f.name == OP_TYPE for f in original.functions)
    assert not any(f.domain == DOMAIN and f.name == OP_TYPE for f in parsed.functions)
    assert [n.SerializeToString() for n in parsed.graph.node] == [n.SerializeToString() for n in original.graph.node]
    assert parsed.graph.initializer == original.graph.initializer
    assert parsed.metadata_props == original.metadata_props


def _manifest(**kw) -> EngineManifest:
    base = dict(tensorrt_version="10.9.0", gpu_name="NVIDIA Orin", compute_capability="8.7", precision="fp16",
                profiles=[{"images": {"min": [1, 128, 128, 3], "opt": [1, 128, 128, 3], "max": [4, 128, 128, 3]}}],
                onnx_sha256="0" * 64, model={"edgedet.format_version": "1"})
    return EngineManifest(**{**base, **kw})


def test_manifest_round_trip_and_refusals(tmp_path):
    engine = tmp_path / "m.engine"
    write_manifest(engine, _manifest())
    m = read_manifest(engine)
    assert json.loads((tmp_path / "m.engine.json").read_text())["precision"] == "fp16"
    check_compatible(m, "10.9.0", "8.7")
    with pytest.raises(EdgedetError, match="built with TensorRT 10.9.0, this is TensorRT 10.13.0"):
        check_compatible(m, "10.13.0", "8.7")
    with pytest.raises(EdgedetError, match="compute capability 8.7.*is 9.0"):
        check_compatible(m, "10.9.0", "9.0", "NVIDIA H100")


def test_engine_without_manifest_is_refused(tmp_path):
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"plan")
    with pytest.raises(EdgedetError, match="no manifest"):
        read_manifest(engine)


def test_calibration_batches_are_letterboxed_canvases(synth_data, tmp_path):
    folder = synth_data / "val" / "images"
    batches = list(calibration_batches(folder, (96, 160), batch=2))
    assert len(batches) == 3 and batches[0].shape == (2, 96, 160, 3) and batches[0].dtype == np.uint8
    from edgedet.runtime.images import list_images, read_rgb

    first = read_rgb(list_images(folder)[0])
    np.testing.assert_array_equal(batches[0][0], letterbox(first, (96, 160))[0])
    cache = tmp_path / "model.calib"
    assert read_cache(cache) is None
    cache.write_bytes(b"TRT-calib")
    assert read_cache(cache) == b"TRT-calib"
    feed = list(calibration_feed(str(folder), (96, 160), 2, 114))
    assert [list(f) for f in feed] == [["images"]] * 3
    np.testing.assert_array_equal(feed[0]["images"], batches[0])
    with pytest.raises(EdgedetError, match="fewer than one batch of 7"):
        list(calibration_batches(folder, (96, 160), batch=7))


def test_build_plan_is_the_polygraphy_chain(seeded_onnx, tmp_path):
    """The loader chain as Polygraphy will run it: parsed bytes without the local function, the
    dynamic-batch profile, precision flags and the timing cache (lazy: nothing needs TensorRT yet)."""
    meta, spec = onnx_facts(seeded_onnx)
    assert spec.strides == (8, 16, 32) and spec.num_levels == 3
    cache = tmp_path / "timing.cache"
    plan = build_plan(seeded_onnx, meta, BuildOptions(fp16=True, batch=(1, 2, 4), timing_cache=str(cache)))
    assert plan.network._model_bytes == plugin_graph(seeded_onnx)
    assert plan.config.fp16 and not plan.config.int8 and plan.precision == "fp16"
    (profile,) = plan.config.profiles
    assert profile["images"].min == (1, 128, 128, 3) and profile["images"].opt == (2, 128, 128, 3)
    assert profile["images"].max == (4, 128, 128, 3)
    assert plan.profiles == [{"images": {"min": [1, 128, 128, 3], "opt": [2, 128, 128, 3],
                                         "max": [4, 128, 128, 3]}}]
    assert plan.config.timing_cache_path == str(cache) and plan.engine.timing_cache_path == str(cache)
    assert plan.engine._network is plan.network and plan.engine._config is plan.config
    assert build_plan(seeded_onnx, meta, BuildOptions()).precision == "fp32"


def test_build_without_tensorrt_fails_cleanly(seeded_onnx, tmp_path):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    r = cli("build", seeded_onnx, "-o", tmp_path / "m.engine", "--fp16")
    assert_one_line_error(r, "needs tensorrt, which is not installed", "'.[trt]'")
    assert not list(tmp_path.iterdir())


def test_precision_flags_follow_the_tensorrt_version():
    for version in ("10.8.0", "10.16.0"):
        check_precision_support(version, BuildOptions(fp16=True))
        check_precision_support(version, BuildOptions(int8=True, calib="x"))
    check_precision_support("11.4.0", BuildOptions())
    with pytest.raises(EdgedetError, match="FP16 engines need TensorRT 10.x"):
        check_precision_support("11.4.0", BuildOptions(fp16=True))
    with pytest.raises(EdgedetError, match="INT8 engines need TensorRT 10.x"):
        check_precision_support("11.0.1", BuildOptions(int8=True, calib="x"))


def test_int8_needs_calibration(seeded_onnx):
    assert_one_line_error(cli("build", seeded_onnx, "--int8"), "INT8 needs a folder of calibration images")


def test_engine_file_without_tensorrt(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    write_manifest(engine, _manifest())
    assert_one_line_error(cli("run", engine, "--source", tmp_path), "needs tensorrt, which is not installed",
                          "'.[trt]'")


@pytest.mark.tensorrt
def test_engine_matches_onnxruntime(seeded_onnx, tmp_path, synth_data):
    from edgedet.export.tensorrt_build import BuildOptions, build_engine
    from edgedet.runtime.images import list_images, read_rgb
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.runtime.trt_detector import TensorRTDetector

    engine = tmp_path / "m.engine"
    build_engine(seeded_onnx, engine, BuildOptions(batch=(1, 2, 4)))
    frames = [read_rgb(p) for p in list_images(synth_data / "val" / "images")[:4]]
    for graph in (False, True):
        trt_dets = TensorRTDetector(engine, cuda_graph=graph)(frames)
        ort_dets = OnnxDetector(seeded_onnx)(frames)
        for a, b in zip(ort_dets, trt_dets):
            assert len(a) == len(b)
            np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)


@pytest.mark.tensorrt
def test_cuda_graph_recaptures_on_batch_change_and_frees(seeded_onnx, tmp_path, synth_data):
    """Warm-up outside the capture, one graph per batch size in turn, the old executable destroyed,
    results equal to plain enqueues; close() frees everything (a second close is harmless)."""
    from edgedet.export.tensorrt_build import BuildOptions, build_engine
    from edgedet.runtime.images import list_images, read_rgb
    from edgedet.runtime.trt_detector import TensorRTDetector

    engine = tmp_path / "m.engine"
    build_engine(seeded_onnx, engine, BuildOptions(batch=(1, 2, 4)))
    frames = [read_rgb(p) for p in list_images(synth_data / "val" / "images")[:4]]
    with TensorRTDetector(engine) as plain, TensorRTDetector(engine, cuda_graph=True) as graphed:
        for n in (1, 4, 2, 4):
            batch, _ = graphed.preprocess(frames[:n])
            got = graphed.infer(batch)
            assert graphed._graph_batch == n and graphed._graph is not None
            want = plain.infer(plain.preprocess(frames[:n])[0])
            for name in want:
                np.testing.assert_allclose(got[name], want[name], atol=1e-5)
    graphed.close()
    assert graphed.stream is None and not graphed.host
