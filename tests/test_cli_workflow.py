"""The CLI as a user drives it: synth -> export --check -> info -> eval -> predict, with --json output."""

from __future__ import annotations

import json

import onnx
import pytest

from tests.conftest import cli


@pytest.mark.slow
def test_export_check_info_eval_predict(trained, synth_data, tmp_path):
    onnx_path = tmp_path / "m.onnx"
    r = cli("export", trained.best, "-o", onnx_path, "--dynamic-batch", "--check", "--json")
    assert r.returncode == 0, r.stderr
    payload = json.loads(r.stdout)
    assert payload["parity"]["ok"] and payload["parity"]["missing"] == 0
    assert onnx_path.is_file() and not list(tmp_path.glob("*.tmp"))

    r = cli("info", onnx_path, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["metadata"]["canvas"] == [128, 128]
    assert [o["name"] for o in info["outputs"]] == ["num_detections", "boxes", "scores", "labels"]

    r = cli("check", onnx_path, "--weights", trained.best, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"]

    ev = {}
    for model in (trained.best, onnx_path):
        r = cli("eval", model, "--data", synth_data, "--json", "--results", tmp_path / f"{model.suffix}.json")
        assert r.returncode == 0, r.stderr
        ev[model.suffix] = json.loads(r.stdout)
    assert abs(ev[".pt"]["map50"] - ev[".onnx"]["map50"]) <= 0.005
    assert json.loads((tmp_path / ".onnx.json").read_text())

    r = cli("predict", onnx_path, synth_data / "val" / "images", "--out", tmp_path / "pred", "--json",
            "--conf", "0.1")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "pred").glob("*.jpg"))) == 6
    assert len(json.loads(r.stdout)["images"]) == 6


def test_synth_cli_json(tmp_path):
    r = cli("data", "synth", tmp_path / "d", "--count", "4", "--imgsz", "64", "--json")
    assert r.returncode == 0, r.stderr
    paths = json.loads(r.stdout)
    assert set(paths) == {"train", "val"}


@pytest.mark.slow
def test_help_has_examples():
    for cmd in ("train", "eval", "predict", "export", "check", "info", "demo"):
        r = cli(cmd, "--help")
        assert r.returncode == 0 and "Example" in r.stdout, cmd


@pytest.mark.slow
def test_keypoint_model_from_data_to_predictions(tmp_path):
    """Pose through the CLI: synth --task keypoints -> train (five losses) -> export --check (joints
    compared) -> eval (OKS) on the checkpoint and the file -> predict --json with keypoints."""
    data, run = tmp_path / "figures", tmp_path / "run"
    assert cli("data", "synth", data, "--task", "keypoints", "--count", "10", "--imgsz", "128").returncode == 0
    r = cli("train", "--data", data, "--arch", "keypointrcnn_edge_fpn", "--imgsz", "128", "--epochs", "1",
            "--batch", "2", "--max-steps", "3", "--eval-every", "-1", "--out", run)
    assert r.returncode == 0, r.stderr
    assert (run / "metrics.csv").read_text().splitlines()[0].split(",")[3:8] == [
        "loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_keypoint"]
    onnx_path = tmp_path / "pose.onnx"
    r = cli("export", run / "best.pt", "-o", onnx_path, "--dynamic-batch", "--max-dets", "10", "--check",
            "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    parity = json.loads(r.stdout)["parity"]
    assert parity["ok"] and parity["joints"]["total"] == 11 * parity["matched"] > 0, parity
    props = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    assert json.loads(props["edgedet.keypoint_names"])[-1] == "right_foot"
    oks = {}
    for model in (run / "best.pt", onnx_path):
        r = cli("eval", model, "--data", data, "--json")
        assert r.returncode == 0, r.stderr
        oks[model.suffix] = json.loads(r.stdout)["keypoints"]["map"]
    assert abs(oks[".pt"] - oks[".onnx"]) <= 0.005
    r = cli("predict", onnx_path, data / "val" / "images", "--out", tmp_path / "pred", "--json", "--conf", "0")
    assert r.returncode == 0, r.stderr
    rows = [d for dets in json.loads(r.stdout)["images"].values() for d in dets]
    assert rows and all(len(d["keypoints"]) == 11 for d in rows)
