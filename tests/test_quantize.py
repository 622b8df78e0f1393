"""``edgedet quantize``: NNCF INT8 of the weight layers only (Conv, Gemm), gated on pycocotools mAP@.5 against fp32,
runnable on ONNX Runtime and OpenVINO; the whole-graph recipe is refused by the gate, nothing written."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from edgedet.data.coco import load_split
from edgedet.evaluation.coco_eval import evaluate
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import load_detector
from edgedet.runtime.model_metadata import ModelMetadata
from tests.conftest import assert_one_line_error, cli

pytest.importorskip("nncf")
pytest.importorskip("openvino")
onnx = pytest.importorskip("onnx")



@pytest.fixture(scope="module")
def int8_file(edge_onnx, synth_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "edge.int8.onnx"
    r = cli("quantize", edge_onnx, "--calib", synth_data / "train" / "images", "--data", synth_data,
            "-o", out, "--iters", "2", "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


@pytest.mark.slow
def test_int8_file_quantizes_the_weight_layers_only(int8_file, edge_onnx):
    from edgedet.export.quantize import float_op_counts, quantized_op_counts

    path, printed = int8_file
    model = onnx.load(str(path))
    from onnx.inliner import inline_local_functions

    fp32 = inline_local_functions(onnx.load(str(edge_onnx)))
    convs, matmuls = (sum(n.op_type == kind for n in fp32.graph.node) for kind in ("Conv", "MatMul"))
    assert quantized_op_counts(model) == Counter({"Conv": convs, "Gemm": 3})  # every weight layer, nothing else
    # RoI Align's separable interpolation (two MatMuls per level it can reach) stays float
    assert matmuls >= 2 and float_op_counts(model) == Counter({"MatMul": matmuls})
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
    facts = meta.extra["quantization"]
    assert meta.precision == "int8" and facts == printed["quantization"]
    assert facts["recipe"]["ops"] == ["Conv", "Gemm"] and facts["calibration_images"] == 24
    assert len(facts["calibration_sha256"]) == 64


@pytest.mark.slow
def test_gate_figures_are_pycocotools_on_both_files(int8_file, edge_onnx, synth_data):
    path, printed = int8_file
    gate = printed["quantization"]["accuracy"]
    val = load_split(synth_data, "val")
    with load_detector(edge_onnx) as fp32, load_detector(path, backend="openvino", precision="int8") as int8:
        assert int8.describe().precision == "int8"
        assert gate["reference"] == pytest.approx(evaluate(fp32, val)["map50"], abs=1e-9)
        assert gate["candidate"] == pytest.approx(evaluate(int8, val)["map50"], abs=1e-9)
    assert gate["metric"] == "map50" and gate["passed"] and gate["change"] >= -0.01
    assert gate["latency_p50_ms"]["fp32"] > 0 and gate["latency_p50_ms"]["int8"] > 0


@pytest.mark.slow
def test_int8_file_runs_on_onnxruntime_too(int8_file, synth_data):
    from edgedet.runtime.agreement import agreement
    from edgedet.runtime.images import list_images, read_rgb

    path, _ = int8_file
    frames = [read_rgb(p) for p in list_images(synth_data / "val" / "images")]
    with load_detector(path, precision="int8") as ort, load_detector(path, backend="openvino") as ov:
        assert ort.describe().precision == ov.describe().precision == "int8"
        # two int8 kernels, one file; the few-step fixture model scores below 0.2, so all its detections count
        share, counted = agreement(ov, ort, frames, min_score=0.1)
    assert counted > 100 and share >= 0.95


def test_int8_precision_needs_an_int8_file(seeded_onnx):
    for backend in ("onnxruntime", "openvino"):
        with pytest.raises(EdgedetError, match="edgedet quantize"):
            load_detector(seeded_onnx, backend=backend, precision="int8")


@pytest.mark.slow
def test_gate_refuses_and_leaves_nothing(seeded_onnx, synth_data, tmp_path):
    """Seeded random weights: their confident detections flip under any perturbation, so int8 keeps few of
    them — a model the gate must refuse to quantize."""
    out = tmp_path / "seeded.int8.onnx"
    argv = ("quantize", seeded_onnx, "--calib", synth_data / "train" / "images", "-o", out, "--iters", "0")
    r = cli(*argv)
    assert_one_line_error(r, "failed the accuracy gate", "agreement", "nothing written")
    assert r.returncode == 2 and list(tmp_path.iterdir()) == []
    r = cli(*argv, "--force", "--json")  # forced: written, and the file says it failed
    assert r.returncode == 0, r.stderr
    gate = ModelMetadata.from_props({p.key: p.value for p in onnx.load(str(out)).metadata_props}
                                    ).extra["quantization"]["accuracy"]
    assert gate["metric"] == "agreement" and gate["passed"] is False and gate["confident_detections"] > 0
    assert gate["candidate"] < 0.95 and json.loads(r.stdout)["quantization"]["accuracy"] == gate


def test_quantize_refuses_bad_input(seeded_onnx, tmp_path):
    assert_one_line_error(cli("quantize", seeded_onnx, "--calib", tmp_path, "-o", tmp_path / "x.onnx"),
                          "no images found")
    assert_one_line_error(cli("quantize", seeded_onnx, "--calib", tmp_path, "-o", seeded_onnx), "input file")
    assert_one_line_error(cli("quantize", seeded_onnx, "--calib", tmp_path, "--exclude", "(", "-o",
                                  tmp_path / "x.onnx"), "regular expression")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_eval_reports_the_change_against_fp32(int8_file, edge_onnx, synth_data):
    path, printed = int8_file
    r = cli("eval", path, "--data", synth_data, "--backend", "openvino", "--precision", "int8", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["quantize_gate"] == printed["quantization"]["accuracy"]
    r = cli("eval", edge_onnx, "--data", synth_data, "--backend", "openvino", "--precision", "bf16", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    with load_detector(edge_onnx) as fp32:  # the reference, independently: onnxruntime, pycocotools
        assert out["fp32_map50"] == pytest.approx(evaluate(fp32, load_split(synth_data, "val"))["map50"], abs=1e-3)
    assert out["map50_change"] == pytest.approx(out["map50"] - out["fp32_map50"], abs=1e-12)
