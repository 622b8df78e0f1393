"""Joint names and skeletons: COCO's person (what torchvision's Keypoint R-CNN checkpoints predict)."""

from __future__ import annotations

COCO_PERSON_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)
# COCO's person skeleton (its annotation files list it 1-based), 0-based here
COCO_PERSON_SKELETON = tuple((a - 1, b - 1) for a, b in (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9), (8, 10), (9, 11),
    (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
))
# pycocotools' per-joint OKS constants for COCO's 17 person joints (COCOeval's default)
COCO_PERSON_SIGMAS = (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89)


def flip_permutation(names: tuple[str, ...]) -> list[int]:
    """Joint order after a horizontal flip: each ``left_*`` joint swaps with its ``right_*`` twin."""
    index = {n: i for i, n in enumerate(names)}
    twin = {"left_": "right_", "right_": "left_"}
    order = []
    for name in names:
        prefix = next((p for p in twin if name.startswith(p)), None)
        other = twin[prefix] + name[len(prefix):] if prefix else name
        order.append(index.get(other, index[name]))
    return order
