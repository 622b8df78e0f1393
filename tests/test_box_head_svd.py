"""Truncated SVD of the box head: the factors against numpy's own SVD, the rank checks, and the export
option end to end — gated on pycocotools' mAP@.5, refused past the limit with nothing written, exact
against the factored eager model, run by ONNX Runtime and OpenVINO alike, checked by ``edgedet check``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgedet.checkpoints import model_from_checkpoint
from edgedet.export.box_head_svd import factor_box_head, head_layers, max_useful_rank, parse_ranks, resolve_ranks
from edgedet.runtime.errors import EdgedetError
from tests.conftest import assert_one_line_error, cli


def test_factored_layer_is_numpys_best_rank_r_approximation(trained):
    model, _ = model_from_checkpoint(trained.best)
    (name, layer), = head_layers(model).items()
    weight, bias = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
    u, s, vh = np.linalg.svd(weight, full_matrices=False)
    rank = 12
    facts = factor_box_head(model, {name: rank})
    factored = model.roi_heads.box_head.get_submodule(name)
    x = torch.randn(5, layer.in_features)
    expected = x.double().numpy() @ ((u[:, :rank] * s[:rank]) @ vh[:rank]).T + bias
    np.testing.assert_allclose(factored(x).detach().double().numpy(), expected, rtol=1e-4, atol=1e-4)
    assert [m.weight.shape for m in factored] == [(rank, layer.in_features), (layer.out_features, rank)]
    assert factored[0].bias is None
    (fact,) = facts.layers
    assert fact.energy == pytest.approx(float((s[:rank] ** 2).sum() / (s ** 2).sum()), rel=1e-9)
    assert fact.cost_ratio == pytest.approx(rank * (layer.in_features + layer.out_features)
                                            / (layer.in_features * layer.out_features))


def test_ranks_are_checked_against_the_head(trained):
    model, _ = model_from_checkpoint(trained.best)
    (name, layer), = head_layers(model).items()
    assert parse_ranks("fc6=256, fc7=128") == {"fc6": 256, "fc7": 128}
    assert resolve_ranks(model, {"*": 8}) == {name: 8}
    with pytest.raises(EdgedetError, match=f"no layer fc6: its layers are {name}"):
        resolve_ranks(model, {"fc6": 8})
    limit = max_useful_rank(layer)
    assert limit * (layer.in_features + layer.out_features) < layer.in_features * layer.out_features
    assert (limit + 1) * (layer.in_features + layer.out_features) >= layer.in_features * layer.out_features
    with pytest.raises(EdgedetError, match=f"no cheaper than the layer itself: use at most {limit}"):
        resolve_ranks(model, {name: limit + 1})
    for bad in ("fc6=x", "fc6=0", ","):
        with pytest.raises(EdgedetError):
            parse_ranks(bad)


def test_bad_svd_options_are_one_line(trained, tmp_path):
    out = tmp_path / "m.onnx"
    assert_one_line_error(cli("export", str(trained.best), "-o", str(out), "--svd-rank", "fc6=x"), "--svd-rank")
    assert_one_line_error(cli("export", str(trained.best), "-o", str(out), "--data", str(tmp_path)), "--svd-rank")
    assert_one_line_error(cli("export", str(trained.best), "-o", str(out), "--svd-rank", "fc6=8"),
                          "no layer fc6")
    assert not out.exists()


@pytest.mark.slow
def test_svd_export_is_gated_exact_and_runs_on_both_backends(trained, synth_data, tmp_path):
    from edgedet.data.coco import load_split
    from edgedet.evaluation.coco_eval import evaluate
    from edgedet.export.check import parity_images
    from edgedet.runtime.letterbox import letterbox
    from edgedet.runtime.loader import Backend, load_detector
    from edgedet.runtime.model_metadata import ModelMetadata

    # rank 1 loses real mAP on this model: refused at a tight limit, nothing written
    refused = tmp_path / "rank1.onnx"
    result = cli("export", str(trained.best), "-o", str(refused), "--svd-rank", "1", "--data", str(synth_data),
                 "--max-map-drop", "0.001")
    assert_one_line_error(result, "failed the accuracy gate", "nothing written")
    assert not refused.exists() and not list(tmp_path.glob(".rank1*"))

    out = tmp_path / "svd.onnx"
    result = cli("export", str(trained.best), "-o", str(out), "--svd-rank", "128", "--data", str(synth_data),
                 "--max-map-drop", "0.01", "--check", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["parity"]["ok"]  # exact against the eager model factored the same way
    gate = report["svd"]["gate"]
    val = load_split(synth_data, "val")
    with load_detector(out) as file:
        assert gate["candidate"] == pytest.approx(evaluate(file, val)["map50"], abs=1e-9)  # pycocotools, the file
        meta = file.meta
    assert meta.extra["svd"]["ranks"] == {"3": 128} and meta.extra["svd"]["gate"]["passed"]
    assert isinstance(meta, ModelMetadata) and meta.precision == "fp32"

    # the same file in OpenVINO (f32) finds what ONNX Runtime finds
    frames = [letterbox(img, meta.canvas)[0] for _, img in parity_images(meta.canvas, synthetic=4, photos=True)]
    with load_detector(out, backend=Backend.onnxruntime) as ort_det, \
            load_detector(out, backend=Backend.openvino) as ov_det:
        for a, b in zip(ort_det(frames), ov_det(frames)):
            assert len(a) == len(b)
            np.testing.assert_array_equal(a.labels, b.labels)
            np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-3)

    # edgedet check factors the eager model as the file says
    checked = cli("check", str(out), "--weights", str(trained.best), "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"]

    # INT8 composes: both factors are Gemms NNCF quantizes, and the file still says it is factored
    int8 = tmp_path / "svd.int8.onnx"
    quantized = cli("quantize", str(out), "--calib", str(synth_data / "train" / "images"), "-o", str(int8),
                    "--iters", "0", "--force", "--json")
    assert quantized.returncode == 0, quantized.stderr
    assert json.loads(quantized.stdout)["quantization"]["quantized_nodes"]["Gemm"] >= 2
    with load_detector(int8, precision="int8") as file:
        assert file.meta.extra["svd"]["ranks"] == {"3": 128} and file.meta.precision == "int8"
        assert len(file(frames[:1])) == 1


@pytest.mark.slow
def test_auto_picks_the_smallest_passing_power_of_two(trained, synth_data, tmp_path):
    import copy

    from edgedet.data.coco import load_split
    from edgedet.eager_detector import TorchDetector
    from edgedet.evaluation.coco_eval import evaluate
    from edgedet.export.int8_file import GateLimits
    from edgedet.export.onnx_export import ExportOptions
    from edgedet.export.svd_file import SMALLEST_AUTO_RANK, GateSet, write_factored_model

    model, meta = model_from_checkpoint(trained.best)
    val = load_split(synth_data, "val")

    def map50(ranks: dict[str, int] | None) -> float:
        m = copy.deepcopy(model)
        if ranks:
            factor_box_head(m, ranks)
        return evaluate(TorchDetector(m, meta.class_names, meta.canvas), val)["map50"]

    full = map50(None)
    outcome = write_factored_model(copy.deepcopy(model), meta.model_metadata(), tmp_path / "auto.onnx",
                                   ExportOptions(canvas=meta.canvas), "auto", GateSet(labelled=val),
                                   GateLimits(max_map_drop=0.01))
    (name, rank), = outcome.facts.ranks.items()
    assert outcome.gate.passed and outcome.path.is_file()
    assert full - map50({name: rank}) <= 0.01 + 1e-9
    if rank > SMALLEST_AUTO_RANK:  # the next smaller candidate fails
        assert full - map50({name: rank // 2}) > 0.01


def test_svd_composes_with_the_proposal_budget(trained, synth_data, tmp_path):
    """A budgeted, factored file is exact against eager budgeted and factored the same way, and says both."""
    from edgedet.runtime.loader import load_detector

    out = tmp_path / "svd50.onnx"
    result = cli("export", str(trained.best), "-o", str(out), "--svd-rank", "64", "--proposals", "20", "--data",
                 str(synth_data), "--force", "--check", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["parity"]["ok"]
    with load_detector(out) as file:
        extra = file.meta.extra
    assert extra["svd"]["ranks"] == {"3": 64} and int(extra["rpn_post_nms_top_n"]) == 20
    checked = cli("check", str(out), "--weights", str(trained.best), "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"]
