"""Everything of the TensorRT path that can run without TensorRT, and the parts that need it (marked)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from export.calibration import calibration_batches, read_cache, write_cache
from export.plugins.trt_plugin import PARSER_ONLY_FIELDS, PLUGIN_FIELDS
from export.roi_align_function import ATTRIBUTE_TYPES, DOMAIN, OP_TYPE
from runtime.engine_manifest import EngineManifest, check_compatible, read_manifest, write_manifest
from runtime.errors import EdgedetError
from runtime.letterbox import letterbox
from tests.conftest import assert_one_line_error, run_cli

ONNX_TO_PY = {onnx.defs.OpSchema.AttrType.INT: int, onnx.defs.OpSchema.AttrType.FLOAT: float,
              onnx.defs.OpSchema.AttrType.STRING: str, onnx.defs.OpSchema.AttrType.INTS: np.ndarray}


def test_plugin_fields_are_the_node_attributes(edge_onnx):
    node = next(n for n in onnx.load(edge_onnx).graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE)
    written = {a.name for a in node.attribute}
    assert set(PLUGIN_FIELDS) | set(PARSER_ONLY_FIELDS) == written
    for name, kind in PLUGIN_FIELDS.items():
        expected = ONNX_TO_PY[ATTRIBUTE_TYPES[name]]
        origin = getattr(kind, "__origin__", kind)
        assert origin is expected, (name, kind, expected)
    assert {a.name: a.s for a in node.attribute}["plugin_namespace"] == b"edgedet"


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
    from runtime.images import list_images, read_rgb

    first = read_rgb(list_images(folder)[0])
    np.testing.assert_array_equal(batches[0][0], letterbox(first, (96, 160))[0])
    cache = tmp_path / "c" / "model.calib"
    assert read_cache(cache) is None
    write_cache(cache, b"TRT-calib")
    assert read_cache(cache) == b"TRT-calib"


def test_build_without_tensorrt_fails_cleanly(edge_onnx, tmp_path):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    r = run_cli("build", edge_onnx, "-o", tmp_path / "m.engine", "--fp16")
    assert_one_line_error(r, "TensorRT is not installed")
    assert not list(tmp_path.iterdir())


def test_bad_batch_profile(edge_onnx):
    assert_one_line_error(run_cli("build", edge_onnx, "--batch", "4:2:8"), "MIN:OPT:MAX")


def test_int8_needs_calibration(edge_onnx):
    assert_one_line_error(run_cli("build", edge_onnx, "--int8"), "--int8 needs --calib")


def test_engine_file_without_tensorrt(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    write_manifest(engine, _manifest())
    r = run_cli("run", engine, "--source", tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "error:" in r.stderr


@pytest.mark.tensorrt
def test_engine_matches_onnxruntime(edge_onnx, tmp_path, synth_data):
    from export.tensorrt_build import BuildOptions, build_engine
    from runtime.images import list_images, read_rgb
    from runtime.onnx_detector import OnnxDetector
    from runtime.trt_detector import TensorRTDetector

    engine = tmp_path / "m.engine"
    build_engine(edge_onnx, engine, BuildOptions(batch=(1, 2, 4)))
    frames = [read_rgb(p) for p in list_images(synth_data / "val" / "images")[:4]]
    for graph in (False, True):
        trt_dets = TensorRTDetector(engine, cuda_graph=graph)(frames)
        ort_dets = OnnxDetector(edge_onnx)(frames)
        for a, b in zip(ort_dets, trt_dets):
            assert len(a) == len(b)
            np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
