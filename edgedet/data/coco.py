"""COCO-format detection data (annotation JSON + image folder), validated on load.

Labelling tools export this format; they also export broken files, so every record is
checked up front and a problem names the file and the record rather than surfacing as a
shape error deep inside a training step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedet.data.keypoint_names import COCO_PERSON_KEYPOINTS, COCO_PERSON_SIGMAS
from edgedet.runtime.errors import EdgedetError


@dataclass
class CocoImage:
    id: int
    path: Path
    height: int
    width: int
    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2
    labels: np.ndarray  # int64 [N], contiguous 1..K
    keypoints: np.ndarray | None = None  # float32 [N, J, 3] x, y, visibility (0, 1, 2) in a keypoints data set


@dataclass
class CocoData:
    annotation_file: Path
    images: list[CocoImage]
    class_names: tuple[str, ...]  # index = label; 0 = "__background__"
    category_ids: tuple[int, ...]  # label i <-> category_ids[i - 1]
    keypoint_names: tuple[str, ...] = ()  # a COCO-keypoints data set's joints (empty for plain detection)
    skeleton: tuple[tuple[int, int], ...] = ()  # 0-based joint pairs (the file's are 1-based)
    keypoint_sigmas: tuple[float, ...] = ()  # OKS constants (COCO style, x10), when the file or COCO gives them

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def label_to_category(self, label: int) -> int:
        return self.category_ids[label - 1]


def find_split(data: str | Path, split: str) -> tuple[Path, Path]:
    """Locate ``annotations.json`` and the image folder for a split of an edgedet/COCO folder."""
    root = Path(data)
    if root.is_file() and root.suffix == ".json":
        return root, root.parent / "images"
    for ann, images in ((root / split / "annotations.json", root / split / "images"),
                        (root / "annotations" / f"instances_{split}.json", root / split),
                        (root / "annotations.json", root / "images")):
        if ann.is_file():
            return ann, images
    raise EdgedetError(
        f"no '{split}' annotations under '{data}': expected {split}/annotations.json + {split}/images/ "
        f"(edgedet data synth layout) or annotations/instances_{split}.json + {split}/ (COCO layout)"
    )


def _fail(path: Path, what: str) -> EdgedetError:
    return EdgedetError(f"{path}: {what}")


def _require(record: dict, keys: tuple[str, ...], path: Path, where: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise _fail(path, f"{where} lacks field(s) {', '.join(missing)}")


def _keypoint_schema(categories: list[dict], path: Path) -> tuple[tuple[str, ...], tuple, tuple[float, ...]]:
    """Joint names, skeleton and OKS sigmas shared by the categories that list ``keypoints``.

    One Keypoint R-CNN predicts one set of joints, so every keypoint category must list the same
    names. Sigmas come from a category's ``keypoint_sigmas`` (an edgedet extension), else COCO's when
    the joints are COCO's person, else none (evaluation then says which constant it used)."""
    with_kp = [c for c in categories if c.get("keypoints")]
    if not with_kp:
        return (), (), ()
    names = tuple(str(n) for n in with_kp[0]["keypoints"])
    for cat in with_kp[1:]:
        if tuple(str(n) for n in cat["keypoints"]) != names:
            raise _fail(path, f"categories '{with_kp[0]['name']}' and '{cat['name']}' list different keypoints: "
                              "one model predicts one set of joints")
    skeleton = []
    for edge in with_kp[0].get("skeleton") or []:
        if not (isinstance(edge, list) and len(edge) == 2 and all(1 <= int(v) <= len(names) for v in edge)):
            raise _fail(path, f"category '{with_kp[0]['name']}' skeleton edge {edge!r} is not a pair of 1-based "
                              f"joint numbers up to {len(names)}")
        skeleton.append((int(edge[0]) - 1, int(edge[1]) - 1))
    sigmas = tuple(float(v) for v in with_kp[0].get("keypoint_sigmas") or ())
    if sigmas and len(sigmas) != len(names):
        raise _fail(path, f"keypoint_sigmas has {len(sigmas)} values for {len(names)} joints")
    if not sigmas and names == COCO_PERSON_KEYPOINTS:
        sigmas = COCO_PERSON_SIGMAS
    return names, tuple(skeleton), sigmas


def _keypoints(ann: dict, joints: int, path: Path, where: str) -> list[list[float]]:
    flat = ann.get("keypoints")
    if not (isinstance(flat, list) and len(flat) == 3 * joints):
        raise _fail(path, f"{where} needs 'keypoints' with {3 * joints} numbers (x, y, v for each of {joints} "
                          "joints)")
    rows = [[float(flat[i]), float(flat[i + 1]), float(flat[i + 2])] for i in range(0, len(flat), 3)]
    if any(v not in (0.0, 1.0, 2.0) for _, _, v in rows):
        raise _fail(path, f"{where} keypoint visibility must be 0 (unlabelled), 1 (hidden) or 2 (visible)")
    labelled = sum(v > 0 for _, _, v in rows)
    if "num_keypoints" in ann and int(ann["num_keypoints"]) != labelled:
        raise _fail(path, f"{where} num_keypoints {ann['num_keypoints']} differs from its {labelled} labelled joints")
    return rows


def load_coco(annotation_file: str | Path, image_dir: str | Path, check_images: bool = True) -> CocoData:
    path = Path(annotation_file)
    image_dir = Path(image_dir)
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise EdgedetError(f"annotation file '{path}' does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(path, f"not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise _fail(path, "top level must be an object with images, annotations and categories")
    _require(payload, ("images", "annotations", "categories"), path, "the file")

    categories = payload["categories"]
    for i, cat in enumerate(categories):
        _require(cat, ("id", "name"), path, f"categories[{i}]")
    category_ids = tuple(sorted(int(c["id"]) for c in categories))
    names = {int(c["id"]): str(c["name"]) for c in categories}
    label_of = {cid: i + 1 for i, cid in enumerate(category_ids)}
    joint_names, skeleton, sigmas = _keypoint_schema(categories, path)

    records: dict[int, dict] = {}
    for i, img in enumerate(payload["images"]):
        _require(img, ("id", "file_name", "height", "width"), path, f"images[{i}]")
        records[int(img["id"])] = {"img": img, "boxes": [], "labels": [], "keypoints": []}

    for i, ann in enumerate(payload["annotations"]):
        where = f"annotations[{i}] (id {ann.get('id', '?')})"
        _require(ann, ("image_id", "category_id", "bbox"), path, where)
        if int(ann["image_id"]) not in records:
            raise _fail(path, f"{where} refers to unknown image_id {ann['image_id']}")
        if int(ann["category_id"]) not in label_of:
            raise _fail(path, f"{where} has unknown category_id {ann['category_id']}")
        if ann.get("iscrowd", 0):
            continue
        rec = records[int(ann["image_id"])]
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise _fail(path, f"{where} bbox must be [x, y, width, height]")
        x, y, w, h = (float(v) for v in bbox)
        iw, ih = float(rec["img"]["width"]), float(rec["img"]["height"])
        if w <= 0 or h <= 0 or x < -0.5 or y < -0.5 or x + w > iw + 0.5 or y + h > ih + 0.5:
            raise _fail(path, f"{where} bbox {bbox} is empty or outside its {iw:g}x{ih:g} image")
        rec["boxes"].append([max(x, 0), max(y, 0), min(x + w, iw), min(y + h, ih)])
        rec["labels"].append(label_of[int(ann["category_id"])])
        if joint_names:
            rec["keypoints"].append(_keypoints(ann, len(joint_names), path, where))

    images = []
    for image_id, rec in records.items():
        img = rec["img"]
        file = image_dir / img["file_name"]
        if check_images and cv2.imread(str(file), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
            raise _fail(path, f"image id {image_id} file '{file}' is missing or unreadable")
        keypoints = np.asarray(rec["keypoints"], np.float32).reshape(-1, len(joint_names), 3) if joint_names else None
        images.append(CocoImage(image_id, file, int(img["height"]), int(img["width"]),
                                np.asarray(rec["boxes"], np.float32).reshape(-1, 4),
                                np.asarray(rec["labels"], np.int64), keypoints))
    if not images:
        raise _fail(path, "has no images")
    class_names = ("__background__",) + tuple(names[c] for c in category_ids)
    return CocoData(path, images, class_names, category_ids, joint_names, skeleton, sigmas)


def load_split(data: str | Path, split: str, check_images: bool = True) -> CocoData:
    ann, images = find_split(data, split)
    return load_coco(ann, images, check_images)
