"""A synthetic shapes data set in COCO format, deterministic for a seed.

Shapes of several classes, sizes from tiny to large, random colours, textured
backgrounds, overlaps and partial occlusion. Boxes are the bounding boxes of the
*visible* pixels; no shape is hidden past ``MIN_VISIBLE``, so every shape is annotated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edgedet.runtime.atomic import write_json
from edgedet.runtime.errors import EdgedetError

CLASSES = ("circle", "square", "triangle", "cross")
MIN_VISIBLE = 0.5


def render_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-frequency colour noise plus a gradient and a few stripes: texture without shapes."""
    small = rng.integers(0, 256, size=(max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8)
    bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.linspace(-40, 40, w, dtype=np.float32)[None, :, None]
    bg = bg * 0.6 + 50 + ramp * rng.uniform(-1, 1)
    noise = rng.normal(0, 12, size=(h, w, 1)).astype(np.float32)
    bg = np.clip(bg + noise, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(0, 4)):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(bg, p1, p2, tuple(int(c) for c in rng.integers(0, 256, 3)), int(rng.integers(1, 3)), cv2.LINE_AA)
    return bg


def _shape_polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray | None:
    if kind == "circle":
        return None
    if kind == "square":
        base = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        r = r / math.sqrt(2)
    elif kind == "triangle":
        base = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    else:  # cross
        t = 0.35
        base = [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t), (t, 1), (-t, 1), (-t, t), (-1, t), (-1, -t),
                (-t, -t)]
    c, s = math.cos(angle), math.sin(angle)
    pts = [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in base]
    return np.round(np.array(pts) * 16).astype(np.int32)  # 4 fractional bits for cv2's shift=4


def _draw(canvas: np.ndarray, kind: str, cx: float, cy: float, r: float, angle: float, color) -> None:
    poly = _shape_polygon(kind, cx, cy, r, angle)
    if poly is None:
        cv2.circle(canvas, (round(cx * 16), round(cy * 16)), round(r * 16), color, -1, cv2.LINE_AA, shift=4)
    else:
        cv2.fillPoly(canvas, [poly], color, cv2.LINE_AA, shift=4)


def render_image(rng: np.random.Generator, size: tuple[int, int], max_objects: int = 6):
    """One image and its annotations: list of (class index, x, y, w, h, visible area).

    A new shape that would hide more than ``1 - MIN_VISIBLE`` of an earlier one is not drawn,
    so every shape in the picture is annotated: no unlabelled fragments to confuse training.
    """
    h, w = size
    image = render_background(rng, h, w)
    owner = np.full((h, w), -1, np.int32)  # which object each pixel shows
    objects: list[tuple[int, int, int]] = []
    for idx in range(int(rng.integers(1, max_objects + 1))):
        kind = int(rng.integers(0, len(CLASSES)))
        # log-uniform radius: tiny through large
        r = float(np.exp(rng.uniform(math.log(8), math.log(min(h, w) * 0.28))))
        cx, cy = rng.uniform(r * 0.5, w - r * 0.5), rng.uniform(r * 0.5, h - r * 0.5)
        angle = float(rng.uniform(0, 2 * math.pi))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        mask = np.zeros((h, w), np.uint8)
        _draw(mask, CLASSES[kind], cx, cy, r, angle, 255)
        full = mask > 127
        if full.sum() < 20:
            continue
        if any(np.count_nonzero((owner == j) & ~full) < MIN_VISIBLE * area for j, _, area in objects):
            continue
        _draw(image, CLASSES[kind], cx, cy, r, angle, color)
        owner[full] = idx
        objects.append((idx, kind, int(full.sum())))
    anns = []
    for idx, kind, _ in objects:
        ys, xs = np.nonzero(owner == idx)
        x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        anns.append((kind, float(x1), float(y1), float(x2 - x1), float(y2 - y1), int(len(xs))))
    return image, anns


def shape_annotations(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[dict]]:
    """One shapes image and its COCO annotation records (without ids)."""
    image, anns = render_image(rng, size)
    return image, [{"category_id": kind + 1, "bbox": [x, y, bw, bh], "area": float(area), "iscrowd": 0}
                   for kind, x, y, bw, bh, area in anns]


SHAPE_CATEGORIES = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASSES)]


def write_split(root: Path, name: str, count: int, seed: int, size: tuple[int, int], progress=None,
                render: Callable = shape_annotations, categories: list[dict] = SHAPE_CATEGORIES,
                description: str = "shapes") -> Path:
    """``root/name/images/*.png`` and ``root/name/annotations.json``: ``count`` images from ``render``
    (an rng and a size -> the image and its annotation records), one random stream per split."""
    rng = np.random.default_rng([seed, 0 if name == "train" else 1])
    image_dir = root / name / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        image, anns = render(rng, size)
        file_name = f"{i:06d}.png"
        cv2.imwrite(str(image_dir / file_name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        images.append({"id": i + 1, "file_name": file_name, "height": size[0], "width": size[1]})
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, **ann})
        if progress:
            progress()
    ann_path = root / name / "annotations.json"
    payload = {"info": {"description": f"edgedet synthetic {description}, seed {seed}"}, "images": images,
               "annotations": annotations, "categories": categories}
    write_json(ann_path, payload, indent=None)
    return ann_path


def check_args(images: int, val_fraction: float) -> None:
    if images < 2:
        raise EdgedetError(f"a data set needs at least 2 images (one train and one val image), got {images}")
    if not 0 < val_fraction < 1:
        raise EdgedetError(f"the val fraction must be between 0 and 1, got {val_fraction}")


def synthesize(out: str | Path, images: int, seed: int = 0, size: tuple[int, int] = (256, 256),
               val_fraction: float = 0.2, progress=None, task: str = "detection") -> dict[str, Path]:
    """Write ``out/{train,val}/{images/,annotations.json}``; the same seed gives the same bytes.
    ``task`` ``keypoints`` writes stick figures with COCO keypoints instead of shapes."""
    check_args(images, val_fraction)
    kwargs = {}
    if task == "keypoints":
        from edgedet.data.synthetic_pose import FIGURE_CATEGORIES, figure_annotations

        kwargs = {"render": figure_annotations, "categories": FIGURE_CATEGORIES, "description": "stick figures"}
    elif task != "detection":
        raise EdgedetError(f"unknown task '{task}': choose detection or keypoints")
    root = Path(out)
    n_val = max(1, round(images * val_fraction))
    return {
        "train": write_split(root, "train", images - n_val, seed, size, progress, **kwargs),
        "val": write_split(root, "val", n_val, seed, size, progress, **kwargs),
    }
