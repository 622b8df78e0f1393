"""The synthetic data set: valid COCO (pycocotools is the oracle), deterministic, varied."""

from __future__ import annotations

import contextlib
import hashlib
import io

import numpy as np
from pycocotools.coco import COCO

from edgedet.data.coco import load_split
from edgedet.data.synthetic import CLASSES, synthesize


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_loads_in_pycocotools(synth_data):
    for split in ("train", "val"):
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(synth_data / split / "annotations.json"))
        assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == sorted(CLASSES)
        assert len(coco.getImgIds()) == (24 if split == "train" else 6)
        for ann in coco.loadAnns(coco.getAnnIds()):
            img = coco.loadImgs(ann["image_id"])[0]
            x, y, w, h = ann["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= img["width"] and y + h <= img["height"]


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    synthesize(tmp_path / "a", 6, seed=3, size=(96, 96))
    synthesize(tmp_path / "b", 6, seed=3, size=(96, 96))
    synthesize(tmp_path / "c", 6, seed=4, size=(96, 96))
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_sizes_classes_and_occlusion_vary(tmp_path):
    synthesize(tmp_path, 60, seed=0, size=(256, 256))
    data = load_split(tmp_path, "train")
    boxes = np.concatenate([r.boxes for r in data.images])
    sides = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    labels = np.concatenate([r.labels for r in data.images])
    assert sides.min() < 20 and sides.max() > 100  # tiny to large
    assert set(labels.tolist()) == {1, 2, 3, 4}
    overlapping = 0
    for r in data.images:
        b = r.boxes
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                iw = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
                ih = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
                overlapping += iw > 0 and ih > 0
    assert overlapping > 0
