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

from edgedet.runtime.errors import EdgedetError


@dataclass
class CocoImage:
    id: int
    path: Path
    height: int
    width: int
    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2
    labels: np.ndarray  # int64 [N], contiguous 1..K


@dataclass
class CocoData:
    annotation_file: Path
    images: list[CocoImage]
    class_names: tuple[str, ...]  # index = label; 0 = "__background__"
    category_ids: tuple[int, ...]  # label i <-> category_ids[i - 1]

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

    records: dict[int, dict] = {}
    for i, img in enumerate(payload["images"]):
        _require(img, ("id", "file_name", "height", "width"), path, f"images[{i}]")
        records[int(img["id"])] = {"img": img, "boxes": [], "labels": []}

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

    images = []
    for image_id, rec in records.items():
        img = rec["img"]
        file = image_dir / img["file_name"]
        if check_images and cv2.imread(str(file), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
            raise _fail(path, f"image id {image_id} file '{file}' is missing or unreadable")
        images.append(CocoImage(image_id, file, int(img["height"]), int(img["width"]),
                                np.asarray(rec["boxes"], np.float32).reshape(-1, 4),
                                np.asarray(rec["labels"], np.int64)))
    if not images:
        raise _fail(path, "has no images")
    class_names = ("__background__",) + tuple(names[c] for c in category_ids)
    return CocoData(path, images, class_names, category_ids)


def load_split(data: str | Path, split: str, check_images: bool = True) -> CocoData:
    ann, images = find_split(data, split)
    return load_coco(ann, images, check_images)
