"""The OpenVINO backend: our .onnx read directly (local functions inlined in memory), f32 unless bf16
is asked for, exact against the eager model by the export parity check at batch 1 and 4."""

from __future__ import annotations

import pytest

from edgedet.eager_detector import TorchDetector
from edgedet.export.check import compare_detectors, parity_images
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import load_detector
from tests.conftest import assert_one_line_error, cli

pytest.importorskip("openvino")


def test_openvino_f32_matches_eager_at_batch_1_and_4(seeded_export):
    model, names, path = seeded_export("fasterrcnn_edge_fpn", (128, 128))
    with load_detector(path, backend="openvino") as det:
        info = det.describe()
        assert (info.backend, info.precision, info.device) == ("openvino", "fp32", "CPU")
        report = compare_detectors(det, TorchDetector(model, names, det.canvas),
                                   parity_images(det.canvas, synthetic=6), batch=4)
    summary = report.summary()
    assert summary["reference_detections"] > 0
    assert summary["missing"] == 0 and summary["extra"] == 0, summary
    assert summary["iou_min"] >= 0.99 and summary["score_diff_max"] <= 1e-3, summary
    assert report.batch_consistent is True


def test_openvino_bf16_is_only_used_when_asked(seeded_onnx, synth_data):
    from edgedet.runtime.images import list_images, read_rgb

    frames = [read_rgb(p) for p in list_images(synth_data / "val" / "images")[:2]]
    with load_detector(seeded_onnx, backend="openvino", precision="bf16") as det:
        assert det.describe().precision == "bf16"
        assert len(det(frames)) == 2
    with pytest.raises(EdgedetError, match="needs the openvino backend"):
        load_detector(seeded_onnx, precision="bf16")


@pytest.mark.slow
def test_cli_eval_on_openvino_equals_onnxruntime(edge_onnx, synth_data):
    import json

    maps = {}
    for backend in ("onnxruntime", "openvino"):
        r = cli("eval", edge_onnx, "--data", synth_data, "--backend", backend, "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["backend"]["backend"] == backend
        maps[backend] = (out["map"], out["map50"])
    assert maps["openvino"] == pytest.approx(maps["onnxruntime"], abs=1e-3)


def test_engine_on_another_backend_is_refused(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    assert_one_line_error(cli("run", engine, "--source", tmp_path, "--backend", "openvino"),
                          "runs on the tensorrt backend only")


def test_a_restart_compiles_from_the_cache_with_the_same_detections(seeded_onnx, synth_data, tmp_path,
                                                                    monkeypatch):
    """The first load converts the ONNX file once into an entry named by its SHA-256 (IR, metadata, and
    OpenVINO's compiled blob); the next load reads none of the ONNX file's graph; a broken entry is
    rebuilt. Every way gives the detections the uncached load gives, exactly."""
    import numpy as np

    from edgedet.runtime.hashing import sha256_file
    from edgedet.runtime.images import list_images, read_rgb
    from edgedet.runtime.openvino_detector import OpenVinoDetector

    frames = [read_rgb(p) for p in list_images(synth_data / "val" / "images")[:3]]

    def detect(**kwargs) -> list:
        with OpenVinoDetector(seeded_onnx, **kwargs) as det:
            assert det.class_names[1:] == ("c1", "c2", "c3", "c4") and det.canvas == (128, 128)
            return [(d.boxes, d.scores, d.labels) for d in det(frames)]

    plain = detect(cache=False)
    assert sum(len(b) for b, _, _ in plain) > 0
    first = detect(cache=tmp_path)
    entry = tmp_path / sha256_file(seeded_onnx)
    assert (entry / "model.xml").is_file() and (entry / "props.json").is_file() and list(entry.glob("*.blob"))
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # no staging folder left behind

    def no_conversion(self, core):
        raise AssertionError("a cached model was converted again")

    with monkeypatch.context() as m:
        m.setattr(OpenVinoDetector, "_convert", no_conversion)
        second = detect(cache=tmp_path)
    (entry / "props.json").write_text("{broken")
    rebuilt = detect(cache=tmp_path)
    for run in (first, second, rebuilt):
        for (b, s, lb), (b0, s0, lb0) in zip(run, plain):
            np.testing.assert_array_equal(b, b0)
            np.testing.assert_array_equal(s, s0)
            np.testing.assert_array_equal(lb, lb0)
