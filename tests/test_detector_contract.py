"""The ``Detector`` base does the contract's work once: every backend refuses a closed detector and a batch
that is not its model's with the same error, and ``close`` is idempotent (the template method of
Polygraphy's ``BaseRunner``)."""

from __future__ import annotations

import numpy as np
import pytest

from edgedet.runtime.errors import EdgedetError
from tests.conftest import CANVAS  # 128 x 128: the seeded file the runtime tests share


@pytest.fixture(scope="module")
def seeded(seeded_export):
    return seeded_export("fasterrcnn_edge_fpn", CANVAS)


def _make(kind: str, seeded):
    model, names, path = seeded
    if kind == "onnxruntime":
        from edgedet.runtime.onnx_detector import OnnxDetector

        return OnnxDetector(path)
    if kind == "openvino":
        pytest.importorskip("openvino")
        from edgedet.runtime.openvino_detector import OpenVinoDetector

        return OpenVinoDetector(path)
    from edgedet.eager_detector import TorchDetector

    return TorchDetector(model, names, CANVAS, source="seeded")


BACKENDS = ["onnxruntime", "openvino", "torch"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_facts_come_from_the_file_and_a_good_batch_runs(kind, seeded):
    det = _make(kind, seeded)
    try:
        assert det.canvas == CANVAS and det.class_names == seeded[1] and det.fill == 114
        if kind != "torch":
            assert det.meta.canvas == CANVAS and det.fixed_batch is None and str(seeded[2]) in det.origin
        frames = [np.random.default_rng(i).integers(0, 255, (48, 80, 3), np.uint8) for i in range(3)]
        outputs = det.infer(det.preprocess(frames)[0])
        assert outputs["boxes"].shape[0] == 3 and outputs["num_detections"].shape == (3,)
    finally:
        det.close()


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize(("batch", "needle"), [
    (np.zeros((1, 128, 128, 3), np.float32), "takes uint8 canvases [N, 128, 128, 3], got float32"),
    (np.zeros((1, 64, 128, 3), np.uint8), "got uint8 [1, 64, 128, 3]"),
    (np.zeros((128, 128, 3), np.uint8), "got uint8 [128, 128, 3]"),
    (np.zeros((0, 128, 128, 3), np.uint8), "batches of at least 1 canvases, got 0"),
    ([[1, 2]], "got list"),
], ids=["float", "wrong-canvas", "no-batch-axis", "empty", "not-an-array"])
def test_a_batch_that_is_not_the_models_is_refused_alike(kind, seeded, batch, needle):
    with _make(kind, seeded) as det:
        with pytest.raises(EdgedetError) as info:
            det.infer(batch)
    message = str(info.value)
    assert needle in message, message
    assert message.startswith(f"'{det.origin}' takes "), message


@pytest.mark.parametrize("kind", BACKENDS)
def test_use_after_close_is_the_same_error_everywhere(kind, seeded):
    det = _make(kind, seeded)
    batch = det.preprocess([np.zeros((64, 64, 3), np.uint8)])[0].copy()
    det.close()
    det.close()  # idempotent
    assert det.closed
    with pytest.raises(EdgedetError, match=r"^the detector for '.+' is closed: make a new one$"):
        det.infer(batch)
    with pytest.raises(EdgedetError, match="is closed"):
        det([np.zeros((64, 64, 3), np.uint8)])
