"""Every bad input: one readable line on stderr, a non-zero exit, no traceback, nothing half-written."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.conftest import assert_one_line_error, cli


@pytest.fixture()
def data_copy(synth_data, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(synth_data, dst)
    return dst


def _edit(path, fn):
    payload = json.loads(path.read_text())
    fn(payload)
    path.write_text(json.dumps(payload))


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["annotations"][0].pop("bbox"), "lacks field(s) bbox"),
        (lambda d: d["images"][0].pop("file_name"), "lacks field(s) file_name"),
        (lambda d: d["annotations"][0].__setitem__("bbox", [120, 120, 50, 50]), "outside its"),
        (lambda d: d["annotations"][0].__setitem__("category_id", 99), "unknown category_id 99"),
        (lambda d: d["annotations"][0].__setitem__("image_id", 12345), "unknown image_id"),
        (lambda d: d.pop("categories"), "lacks field(s) categories"),
    ],
)
def test_malformed_annotations(data_copy, mutate, needle):
    ann = data_copy / "train" / "annotations.json"
    _edit(ann, mutate)
    result = cli("data", "check", data_copy, "--split", "train")
    assert_one_line_error(result, str(ann), needle)


def test_annotation_record_is_named(data_copy):
    ann = data_copy / "train" / "annotations.json"
    _edit(ann, lambda d: d["annotations"][3].pop("category_id"))
    assert_one_line_error(cli("data", "check", data_copy), "annotations[3]")


def test_unreadable_image(data_copy):
    (data_copy / "train" / "images" / "000002.png").write_bytes(b"not a png")
    assert_one_line_error(cli("data", "check", data_copy), "000002.png", "unreadable")


def test_not_json(data_copy):
    (data_copy / "val" / "annotations.json").write_text("{broken")
    assert_one_line_error(cli("data", "check", data_copy, "--split", "val"), "not valid JSON")


@pytest.mark.slow
def test_missing_data_folder(tmp_path):
    assert_one_line_error(cli("train", "--data", tmp_path / "nope"), "no 'train' annotations")


@pytest.mark.slow
def test_unknown_architecture(synth_data, tmp_path):
    assert_one_line_error(cli("train", "--data", synth_data, "--arch", "yolo", "--out", tmp_path),
                          "unknown architecture 'yolo'")


@pytest.mark.slow
def test_canvas_not_multiple_of_32(seeded_files, tmp_path):
    result = cli("export", seeded_files.checkpoint, "-o", tmp_path / "m.onnx", "--imgsz", "100")
    assert_one_line_error(result, "multiple of 32")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_non_checkpoint_file(tmp_path):
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"\x00garbage")
    assert_one_line_error(cli("info", bad), "cannot load")


@pytest.mark.slow
def test_pickled_object_is_refused(tmp_path):
    """weights_only=True: a checkpoint holding arbitrary Python objects does not load."""
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "meta": {"format": "edgedet-checkpoint"}, "obj": object()}, evil)
    assert_one_line_error(cli("info", evil), "weights_only=True")


@pytest.mark.slow
def test_state_dict_that_does_not_fit(seeded_files, tmp_path):
    state = torch.load(seeded_files.checkpoint, weights_only=True)["model"]
    plain = tmp_path / "plain.pt"
    torch.save(state, plain)
    result = cli("export", plain, "--arch", "fasterrcnn_mobilenet_v3_large_320_fpn", "--num-classes", "5",
                 "-o", tmp_path / "m.onnx")
    assert_one_line_error(result, "does not fit architecture")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
def test_plain_state_dict_needs_arch(seeded_files, tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(torch.load(seeded_files.checkpoint, weights_only=True)["model"], plain)
    assert_one_line_error(cli("export", plain), "--arch and --num-classes")


@pytest.mark.slow
def test_opset_too_old_leaves_nothing(seeded_files, tmp_path):
    result = cli("export", seeded_files.checkpoint, "-o", tmp_path / "m.onnx", "--opset", "15")
    assert_one_line_error(result, "Invalid value for '--opset'", "18")
    assert not list(tmp_path.iterdir())


def test_missing_model_and_images(tmp_path):
    assert_one_line_error(cli("predict", tmp_path / "none.onnx", tmp_path), "does not exist")


def test_onnx_without_metadata(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), path)
    assert_one_line_error(cli("info", path), "no edgedet metadata")


def test_too_few_synth_images(tmp_path):
    assert_one_line_error(cli("data", "synth", tmp_path / "d", "--count", "1"), "'--count'", "2")


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["run", "m.onnx", "--source", "0", "--provider", "gpu"], ["'--provider'", "'gpu'"]),
        (["export", "m.pt", "--roi-mode", "max"], ["'--roi-mode'", "'max'"]),
        (["train", "--data", "d", "--optimizer", "lamb"], ["'--optimizer'", "'lamb'"]),
        (["export", "m.pt", "--max-dets", "0"], ["'--max-dets'"]),
        (["run", "m.onnx", "--source", "0", "--serve", "localhost"], ["'--serve'", "HOST:PORT"]),
        (["build", "m.onnx", "--batch-range", "4:2:8"], ["'--batch-range'", "MIN:OPT:MAX"]),
        (["eval", "m.onnx"], ["Missing option '--data'"]),
    ],
    ids=["provider", "roi-mode", "optimizer", "max-dets", "serve", "batch-range", "missing-option"],
)
def test_flag_values_are_checked_by_the_parser(argv, needles, tmp_path):
    """Choices, ranges and formats live in the option types: one line naming the flag, before any work."""
    assert_one_line_error(cli(*argv, cwd=tmp_path), *needles)


@pytest.mark.parametrize(("args", "needle"), [
    (["--track-param", "track_buffer=60"], "--track-param sets a tracker's parameter: give --track too"),
    (["--track", "sort", "--track-param", "buffer=3"], "tracker 'sort' has no parameter 'buffer'"),
    (["--track", "bytetrack", "--track-param", "60"], "tracker parameter '60' is not KEY=VALUE"),
    (["--track", "deepsort"], "'deepsort' is not one of"),
    (["--line", "door"], "line 'door' is not [SOURCE:]NAME=COORDINATES"),
    (["--line", "door=1,2,3"], "needs 4 numbers"),
    (["--zone", "lot=0,0,5,5"], "needs 3 or more x,y corners"),
    (["--line", "cam9:door=0,0,9,9"], "which this run does not have"),
    (["--line", "a=0,0,9,9", "--zone", "a=0,0,9,0,9,9"], "two lines or zones named 'a'"),
    (["--detect-every", "0"], "--detect-every"),
    (["--line", "a=0,0,9,9", "--count-after", "0"], "--count-after"),
    (["--serve", "0.0.0.0:8080"], "refusing to serve on '0.0.0.0' without a token"),
    (["--serve-token-file", "token"], "--serve-token-file guards the preview: give --serve HOST:PORT too"),
    (["--serve", "127.0.0.1:8080", "--serve-token-file", "missing-token"], "cannot read the token file"),
    (["--rtsp-transport", "quic"], "'quic' is not one of"),
    (["--stall-timeout", "0"], "--stall-timeout"),
    (["--give-up-after", "-1"], "--give-up-after"),
], ids=["param-without-track", "unknown-param", "not-key-value", "unknown-tracker", "line-format", "line-numbers",
        "zone-corners", "line-source", "same-name", "detect-every", "count-after", "open-preview",
        "token-without-serve", "missing-token", "rtsp-transport", "stall-timeout", "give-up-after"])
def test_tracker_options_are_checked_before_anything_opens(tmp_path, args, needle):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not opened: the options are refused first")
    result = cli("run", model, "-s", tmp_path, *args)
    assert_one_line_error(result, needle)
    assert result.returncode == 2
