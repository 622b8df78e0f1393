"""Stick figures with COCO keypoints: the pose data set ``edgedet data synth --task keypoints`` writes.

Each figure is an articulated skeleton of eleven joints (head, neck, two elbows and hands, hip,
two knees and feet) in a random pose, scale, tilt and colour on the shapes' textured background.
"Left" joints are always on the image-left of the figure's body axis, so a left/right choice is
learnable from the picture and a horizontal flip swaps the names (``left_*`` <-> ``right_*``) exactly
as for people. Figures overlap, and some are partly hidden by occluding blocks: a joint covered by
another figure or a block is labelled but not visible (COCO ``v = 1``), one outside the image is
unlabelled (``v = 0``, x = y = 0), the rest are visible (``v = 2``).

Coordinates follow torchvision's convention (pixel i spans [i, i + 1)); OpenCV draws with integer
coordinates at pixel centres, so a joint drawn at ``p`` is annotated at ``p + 0.5``. The ``area`` of a
figure (OKS's scale) is half its box, about what a person's outline covers of theirs: the drawn
stick pixels alone would make OKS far stricter than on people.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgedet.data.synthetic import MIN_VISIBLE, render_background

KEYPOINT_NAMES = ("head", "neck", "left_elbow", "left_hand", "right_elbow", "right_hand", "hip", "left_knee",
                  "left_foot", "right_knee", "right_foot")
SKELETON = ((0, 1), (1, 2), (2, 3), (1, 4), (4, 5), (1, 6), (6, 7), (7, 8), (6, 9), (9, 10))
# OKS constants in COCO's style (pycocotools divides by 10): head as an ear, neck and hip as shoulder and hip,
# elbows, hands as wrists, knees, feet as ankles
KEYPOINT_SIGMAS = (.35, .79, .72, .62, .72, .62, 1.07, .87, .89, .87, .89)
FIGURE_CATEGORIES = [{"id": 1, "name": "figure", "supercategory": "figure", "keypoints": list(KEYPOINT_NAMES),
                      "skeleton": [[a + 1, b + 1] for a, b in SKELETON],  # COCO files are 1-based
                      "keypoint_sigmas": list(KEYPOINT_SIGMAS)}]
OCCLUDER_PROB = 0.35


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def pose_joints(rng: np.random.Generator, hip: np.ndarray, height: float) -> tuple[np.ndarray, float]:
    """Joint positions [11, 2] of a figure ``height`` pixels tall standing on ``hip``, and its head radius."""
    tilt = rng.uniform(-0.4, 0.4)
    up = np.array([math.sin(tilt), -math.cos(tilt)])
    right = np.array([math.cos(tilt), math.sin(tilt)])
    down = -up
    neck = hip + up * 0.32 * height
    head = neck + up * 0.1 * height
    joints = {"head": head, "neck": neck, "hip": hip}
    for side, sign in (("left", -1.0), ("right", 1.0)):
        lift = rng.uniform(0.25, 2.6)  # upper arm: from hanging down to raised above the shoulder
        upper = down * math.cos(lift) + right * sign * math.sin(lift)
        elbow = neck + upper * 0.17 * height
        joints[f"{side}_elbow"] = elbow
        joints[f"{side}_hand"] = elbow + _rotate(upper, rng.uniform(-1.2, 1.2)) * 0.15 * height
        spread = rng.uniform(0.05, 0.7)
        thigh = down * math.cos(spread) + right * sign * math.sin(spread)
        knee = hip + thigh * 0.24 * height
        joints[f"{side}_knee"] = knee
        joints[f"{side}_foot"] = knee + _rotate(thigh, -sign * rng.uniform(-0.2, 1.0)) * 0.22 * height
    return np.stack([joints[n] for n in KEYPOINT_NAMES]), 0.07 * height


def _draw_figure(canvas: np.ndarray, joints: np.ndarray, head_r: float, thickness: int, color) -> None:
    pts = np.round(joints * 16).astype(np.int64)
    for a, b in SKELETON:
        cv2.line(canvas, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), color, thickness,
                 cv2.LINE_AA, shift=4)
    cv2.circle(canvas, tuple(int(v) for v in pts[0]), round(head_r * 16), color, -1, cv2.LINE_AA, shift=4)


def _place(rng: np.random.Generator, h: int, w: int, height: float) -> tuple[np.ndarray, float]:
    """A pose whose joints lie in the image, or (rarely, after many tries) partly outside it."""
    for _ in range(20):
        hip = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        joints, head_r = pose_joints(rng, hip, height)
        lo, hi = joints.min(0) - head_r, joints.max(0) + head_r
        if lo[0] >= -2 and lo[1] >= -2 and hi[0] <= w + 2 and hi[1] <= h + 2:
            break
    return joints, head_r


def render_figures(rng: np.random.Generator, size: tuple[int, int], max_figures: int = 3):
    """One image and its figures: list of (joints [11, 3] as x, y, v; full box x, y, w, h).

    As with the shapes, a figure or occluder that would hide more than ``1 - MIN_VISIBLE`` of an
    earlier figure's pixels is not drawn, so every figure in the picture is annotated.
    """
    h, w = size
    image = render_background(rng, h, w)
    owner = np.full((h, w), -1, np.int32)
    figures: list[tuple[int, np.ndarray, np.ndarray, int]] = []  # index, joints, full mask, area
    for idx in range(int(rng.integers(1, max_figures + 1))):
        height = float(np.exp(rng.uniform(math.log(40), math.log(min(h, w) * 0.9))))
        joints, head_r = _place(rng, h, w, height)
        thickness = max(2, round(0.045 * height))
        color = tuple(int(c) for c in rng.integers(30, 256, 3))
        mask = np.zeros((h, w), np.uint8)
        _draw_figure(mask, joints, head_r, thickness, 255)
        full = mask > 127
        if full.sum() < 40 or any(np.count_nonzero((owner == j) & ~full) < MIN_VISIBLE * area
                                  for j, _, _, area in figures):
            continue
        _draw_figure(image, joints, head_r, thickness, color)
        owner[full] = idx
        figures.append((idx, joints, full, int(full.sum())))
        if rng.random() < OCCLUDER_PROB:  # a block over one of its joints
            cx, cy = joints[int(rng.integers(0, len(joints)))]
            half = rng.uniform(0.08, 0.16) * height
            block = np.zeros((h, w), bool)
            block[max(0, int(cy - half)):max(0, int(cy + half)), max(0, int(cx - half)):max(0, int(cx + half))] = True
            if all(np.count_nonzero((owner == j) & ~block) >= MIN_VISIBLE * area for j, _, _, area in figures):
                image[block] = rng.integers(0, 256, 3, dtype=np.uint8)
                owner[block] = -2
    out = []
    for idx, joints, full, _ in figures:
        ys, xs = np.nonzero(full)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min()))
        labelled = np.zeros((len(joints), 3), np.float64)
        for j, (x, y) in enumerate(joints):
            px, py = int(round(x)), int(round(y))
            if 0 <= px < w and 0 <= py < h:
                labelled[j] = (x + 0.5, y + 0.5, 2 if owner[py, px] == idx else 1)
        out.append((labelled, box))
    return image, out


def figure_annotations(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[dict]]:
    """One stick-figure image and its COCO keypoint records (without ids)."""
    image, figures = render_figures(rng, size)
    anns = []
    for joints, (x, y, bw, bh) in figures:
        flat = [v for x_, y_, v_ in joints for v in (round(float(x_), 2), round(float(y_), 2), int(v_))]
        anns.append({"category_id": 1, "bbox": [x, y, bw, bh], "area": round(0.5 * bw * bh, 2), "iscrowd": 0,
                     "keypoints": flat, "num_keypoints": int((joints[:, 2] > 0).sum())})
    return image, anns
