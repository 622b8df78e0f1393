"""The stick-figure keypoints data set and everything that reads keypoints without a model: valid COCO
keypoints (pycocotools is the oracle), deterministic, a visibility flag that matches the picture, flips
that swap left and right, OKS evaluation, and the runtime's keypoints (frame mapping, JSON, drawing)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from edgedet.data.coco import load_split
from edgedet.data.synthetic import synthesize
from edgedet.data.synthetic_pose import KEYPOINT_NAMES, SKELETON
from edgedet.evaluation.coco_eval import coco_metrics, detections_to_coco
from edgedet.runtime.annotate import annotate
from edgedet.runtime.detections import Detections, Pose
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.outputs import detections_from_outputs
from edgedet.training.dataset import DetectionDataset


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    synthesize(root, 30, seed=2, size=(160, 160), task="keypoints")
    return root


def test_coco_keypoints_that_pycocotools_reads(figures):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(figures / "train" / "annotations.json"))
    cat = coco.loadCats(coco.getCatIds())[0]
    assert cat["keypoints"] == list(KEYPOINT_NAMES) and len(cat["skeleton"]) == len(SKELETON)
    flags = []
    for ann in coco.loadAnns(coco.getAnnIds()):
        joints = np.array(ann["keypoints"]).reshape(-1, 3)
        assert ann["num_keypoints"] == (joints[:, 2] > 0).sum()
        x, y, w, h = ann["bbox"]
        labelled = joints[joints[:, 2] > 0]
        assert (labelled[:, 0] >= x - 1).all() and (labelled[:, 0] <= x + w + 1).all()  # joints lie in the box
        assert (labelled[:, 1] >= y - 1).all() and (labelled[:, 1] <= y + h + 1).all()
        flags += joints[:, 2].tolist()
    assert {1, 2} <= set(flags)  # some joints hidden by occluders or other figures, most visible


def test_same_seed_same_annotations(tmp_path, figures):
    synthesize(tmp_path / "again", 30, seed=2, size=(160, 160), task="keypoints")
    for split in ("train", "val"):
        assert (tmp_path / "again" / split / "annotations.json").read_bytes() == \
            (figures / split / "annotations.json").read_bytes()


def test_load_and_flip_swaps_left_and_right(figures):
    data = load_split(figures, "train")
    assert data.keypoint_names == KEYPOINT_NAMES and data.skeleton == SKELETON
    record = data.images[0]
    plain = DetectionDataset(data, (160, 160))[0][1]["keypoints"].numpy()
    flipped_set = DetectionDataset(data, (160, 160), flip_prob=1.0, augment=True, scale_jitter=(1.0, 1.0))
    flipped = flipped_set[0][1]["keypoints"].numpy()
    left, right = KEYPOINT_NAMES.index("left_hand"), KEYPOINT_NAMES.index("right_hand")
    n = len(record.boxes)
    assert flipped.shape == plain.shape == (n, len(KEYPOINT_NAMES), 3)
    for i in range(n):  # the mirrored left hand is the original right hand
        if plain[i, right, 2] > 0 and flipped[i, left, 2] > 0:
            assert flipped[i, left, 0] == pytest.approx(160 - plain[i, right, 0], abs=1e-4)
            assert flipped[i, left, 1] == pytest.approx(plain[i, right, 1], abs=1e-4)


def test_bad_keypoint_records_fail_with_one_line(figures, tmp_path):
    payload = json.loads((figures / "val" / "annotations.json").read_text())
    payload["annotations"][0]["keypoints"] = payload["annotations"][0]["keypoints"][:-3]
    (tmp_path / "images").symlink_to(figures / "val" / "images")
    (tmp_path / "annotations.json").write_text(json.dumps(payload))
    with pytest.raises(EdgedetError, match=r"needs 'keypoints' with 33 numbers"):
        load_split(tmp_path / "annotations.json", "val")


def test_oks_of_ground_truth_is_one_and_shifted_joints_score_lower(figures):
    data = load_split(figures, "val")

    def oks(shift: float) -> dict:
        results = []
        for r in data.images:
            joints = r.keypoints.copy()
            joints[..., :2] += shift
            dets = Detections(r.boxes, np.ones(len(r.boxes)), r.labels, keypoints=joints)
            results += detections_to_coco(data, r.id, dets)
        return coco_metrics(data, results)

    exact, shifted = oks(0.0), oks(4.0)
    assert exact["keypoints"]["map"] == pytest.approx(1.0) and exact["map"] == pytest.approx(1.0)
    assert shifted["keypoints"]["map"] < 0.9 and shifted["map"] > 0.9  # boxes unchanged, joints off


def test_keypoints_map_to_frame_pixels_and_json():
    pose = Pose.of(("a", "b"), [(0, 1)])
    outputs = {"num_detections": np.array([1], np.int32), "boxes": np.array([[[10, 20, 50, 60]]], np.float32),
               "scores": np.array([[0.9]], np.float32), "labels": np.array([[1]], np.int64),
               "keypoints": np.array([[[[20, 30, 5.0], [300, 40, -1.0]]]], np.float32)}
    dets = detections_from_outputs(outputs, [0.5], [(100, 120)], ("bg", "person"), pose)[0]
    np.testing.assert_allclose(dets.keypoints[0], [[40, 60, 5.0], [120, 80, -1.0]])  # /scale, x clipped to 120
    record = dets.to_records()[0]
    assert record["keypoints"] == [[40.0, 60.0, 5.0], [120.0, 80.0, -1.0]]
    assert len(dets.filter(0.95)) == 0 and dets.filter(0.5).keypoints.shape == (1, 2, 3)


def test_skeleton_is_drawn():
    frame = np.zeros((100, 100, 3), np.uint8)
    joints = np.array([[[20, 50, 3.0], [80, 50, 3.0]]], np.float32)
    dets = Detections(np.array([[0, 0, 1, 1]]), [0.9], [1], keypoints=joints, pose=Pose.of(("a", "b"), [(0, 1)]))
    drawn = annotate(frame, dets)
    assert drawn[50, 50].any() and drawn[50, 20].any()  # the limb between the joints, and a joint
    hidden = annotate(frame, Detections(dets.boxes, [0.9], [1], keypoints=joints * [1, 1, -1], pose=dets.pose))
    assert not hidden[50, 50].any()  # joints scoring below the drawing threshold: no limb
