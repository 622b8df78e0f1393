"""``export --class-names``: a plain state dict's classes named from a text file or a COCO annotation file
(read against pycocotools' own reading of the same file), the names in the exported file's metadata and in
what ``predict`` gives; a file that does not fit is one line and writes nothing."""

from __future__ import annotations

import json

import pytest
import torch
from pycocotools.coco import COCO

from edgedet.data.class_names_file import read_class_names
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.onnx_detector import OnnxDetector
from tests.conftest import assert_one_line_error, cli


def test_a_text_file_lists_the_object_classes(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("dog\n\n  cat \nbird\n")
    assert read_class_names(f) == ("__background__", "dog", "cat", "bird")
    f.write_text("background\ndog\ncat\n")  # a background line is index 0, not a class
    assert read_class_names(f) == ("__background__", "dog", "cat")


@pytest.mark.parametrize(("text", "needle"), [
    ("\n \n", "has no names"), ("dog\ncat\ndog\n", "names dog twice"),
    ('{"images": []}', "not a COCO annotation file"), ('{"categories": [{"id": 0, "name": "x"}]}', "start at 1"),
])
def test_a_bad_names_file_is_one_clear_error(tmp_path, text, needle):
    f = tmp_path / "names.txt"
    f.write_text(text)
    with pytest.raises(EdgedetError, match=needle):
        read_class_names(f)
    with pytest.raises(EdgedetError, match="does not exist"):
        read_class_names(tmp_path / "none.txt")


def test_a_coco_file_gives_names_by_category_id(tmp_path):
    """Ids with gaps, as COCO's own (1..90 for 80 classes): the index is the id, a gap is N/A."""
    f = tmp_path / "instances.json"
    cats = [{"id": 1, "name": "person", "supercategory": "p"}, {"id": 2, "name": "bicycle", "supercategory": "v"},
            {"id": 4, "name": "motorcycle", "supercategory": "v"}]
    f.write_text(json.dumps({"images": [], "annotations": [], "categories": cats}))
    names = read_class_names(f)
    coco = COCO(str(f))
    assert names[0] == "__background__" and len(names) == max(coco.getCatIds()) + 1
    for i, name in enumerate(names[1:], start=1):
        assert name == (coco.loadCats(i)[0]["name"] if i in coco.cats else "N/A")


@pytest.mark.slow  # an export
def test_export_names_a_plain_state_dict_and_predict_uses_them(seeded_files, synth_data, tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(torch.load(seeded_files.checkpoint, weights_only=True)["model"], plain)
    names = tmp_path / "classes.txt"
    names.write_text("car\ntruck\nbus\nvan\n")
    wrong = tmp_path / "three.txt"
    wrong.write_text("car\ntruck\nbus\n")
    bad = cli("export", plain, "--arch", "fasterrcnn_edge_fpn", "--class-names", wrong, "-o", tmp_path / "x.onnx")
    assert_one_line_error(bad, "does not fit architecture 'fasterrcnn_edge_fpn' with 4 classes")
    bad = cli("export", plain, "--arch", "fasterrcnn_edge_fpn", "--num-classes", "5", "--class-names", wrong,
              "-o", tmp_path / "x.onnx")
    assert_one_line_error(bad, "4 class names (background included)", "has 5 classes")
    assert not (tmp_path / "x.onnx").exists()
    out = tmp_path / "m.onnx"  # no --num-classes: the names give it
    r = cli("export", plain, "--arch", "fasterrcnn_edge_fpn", "--imgsz", "128", "--class-names", names, "-o", out)
    assert r.returncode == 0, r.stderr
    expected = ("__background__", "car", "truck", "bus", "van")
    with OnnxDetector(out) as detector:
        assert detector.class_names == expected
    image = sorted((synth_data / "val" / "images").iterdir())[0]
    r = cli("predict", out, image, "--conf", "0", "--json", "--out", tmp_path / "pred")
    assert r.returncode == 0, r.stderr
    (dets,) = json.loads(r.stdout)["images"].values()
    assert dets and {d["name"] for d in dets} <= set(expected[1:])
    assert all(d["name"] == expected[d["label"]] for d in dets)
