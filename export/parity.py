"""Parity: the exported file against the eager torchvision model on the same canvas pixels.

Detections are matched greedily by label and IoU (highest eager score first); the report
gives IoU and score errors, missing and extra detections, and calls out ties at the K
cut-off (equal scores where the padded output had to drop one of them), which are not errors.
For a Keypoint R-CNN every matched detection's joints are compared too: a joint agrees when its
position is within ``JOINT_PX`` pixels of eager's on both axes and its score within ``SCORE_TOL``;
at least ``JOINT_SHARE`` of all joints must agree (the argmax of a heatmap may flip between two
near-equal pixels under float reordering, so exact equality of every joint is not the bar).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from edgedet.runtime.agreement import box_iou
from edgedet.runtime.outputs import KEYPOINTS_OUTPUT, OUTPUT_NAMES

IOU_MIN = 0.99
SCORE_TOL = 1e-3
JOINT_PX = 1.0
JOINT_SHARE = 0.99


@dataclass
class ImageParity:
    name: str
    reference: int
    candidate: int
    matched: int = 0
    missing: int = 0
    extra: int = 0
    ties_at_cutoff: int = 0
    min_iou: float = 1.0
    max_score_diff: float = 0.0
    joints: int = 0  # joints of matched detections (pose models)
    joints_agree: int = 0
    joint_max_px: float = 0.0
    ious: list[float] = field(default_factory=list, repr=False)
    score_diffs: list[float] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.min_iou >= IOU_MIN and self.max_score_diff <= SCORE_TOL


def _compare_joints(result: ImageParity, ref_joints: np.ndarray, cand_joints: np.ndarray) -> None:
    """Count one matched pair's joints ([J, 3] each: x, y, score) that agree."""
    offset = np.abs(ref_joints[:, :2] - cand_joints[:, :2]).max(-1)
    agree = (offset <= JOINT_PX) & (np.abs(ref_joints[:, 2] - cand_joints[:, 2]) <= SCORE_TOL)
    result.joints += len(agree)
    result.joints_agree += int(agree.sum())
    result.joint_max_px = max(result.joint_max_px, float(offset.max(initial=0.0)))


def compare(name: str, ref: tuple[np.ndarray, ...], cand: tuple[np.ndarray, ...], max_detections: int) -> ImageParity:
    """Match candidate detections to reference ones; (boxes, scores, labels[, keypoints]) each."""
    rb, rs, rl = ref[:3]
    cb, cs, cl = cand[:3]
    joints = len(ref) > 3 and len(cand) > 3
    result = ImageParity(name, len(rs), len(cs))
    ious = box_iou(rb, cb) if len(rb) and len(cb) else np.zeros((len(rb), len(cb)))
    ious = np.where(rl[:, None] == cl[None, :], ious, 0.0)
    # Pair the most overlapping same-label detections first, so a near-duplicate (NMS lets
    # same-class boxes overlap up to its threshold) never steals another detection's twin.
    used = np.zeros(len(cs), bool)
    matched_ref = np.zeros(len(rs), bool)
    for flat in np.argsort(-ious, axis=None, kind="stable"):
        i, j = divmod(int(flat), len(cs))
        if ious[i, j] < 0.5:
            break
        if matched_ref[i] or used[j]:
            continue
        matched_ref[i] = used[j] = True
        result.matched += 1
        result.ious.append(float(ious[i, j]))
        result.score_diffs.append(float(abs(rs[i] - cs[j])))
        if joints:
            _compare_joints(result, ref[3][i], cand[3][j])
    unmatched_ref = np.where(~matched_ref)[0]
    unmatched_cand = np.where(~used)[0]
    # A detection that fell off a full K-long list, tied in score with the list's last entry,
    # is a tie at the cut-off: either backend may keep either one.
    cutoff_ref = rs.min() if len(rs) >= max_detections else None
    cutoff_cand = cs.min() if len(cs) >= max_detections else None
    for i in unmatched_ref:
        if cutoff_cand is not None and abs(rs[i] - cutoff_cand) <= SCORE_TOL:
            result.ties_at_cutoff += 1
        else:
            result.missing += 1
    for j in unmatched_cand:
        if cutoff_ref is not None and abs(cs[j] - cutoff_ref) <= SCORE_TOL:
            result.ties_at_cutoff += 1
        else:
            result.extra += 1
    if result.ious:
        result.min_iou = min(result.ious)
        result.max_score_diff = max(result.score_diffs)
    return result


@dataclass
class ParityReport:
    images: list[ImageParity]
    batch_consistent: bool | None = None
    batch_max_diff: float | None = None
    batch_images: list[ImageParity] = field(default_factory=list)  # batch-B results against the reference

    @staticmethod
    def joint_share(images: list[ImageParity]) -> float | None:
        total = sum(r.joints for r in images)
        return sum(r.joints_agree for r in images) / total if total else None

    @property
    def joints_ok(self) -> bool:
        return all((share := self.joint_share(part)) is None or share >= JOINT_SHARE
                   for part in (self.images, self.batch_images))

    @property
    def ok(self) -> bool:
        # batch-B boxes are held to batch 1's (``batch_consistent``); batch-B joints to the reference's
        return all(r.ok for r in self.images) and self.joints_ok and self.batch_consistent is not False

    def summary(self) -> dict:
        ious = [v for r in self.images for v in r.ious]
        diffs = [v for r in self.images for v in r.score_diffs]
        def pct(xs, q):
            return (float(np.percentile(xs, q)) if xs else None)
        return {
            "ok": self.ok,
            "images": len(self.images),
            "reference_detections": sum(r.reference for r in self.images),
            "candidate_detections": sum(r.candidate for r in self.images),
            "matched": sum(r.matched for r in self.images),
            "missing": sum(r.missing for r in self.images),
            "extra": sum(r.extra for r in self.images),
            "ties_at_cutoff": sum(r.ties_at_cutoff for r in self.images),
            "iou_min": min(ious) if ious else None,
            "iou_p50": pct(ious, 50),
            "score_diff_max": max(diffs) if diffs else None,
            "score_diff_p99": pct(diffs, 99),
            "batch_consistent": self.batch_consistent,
            "batch_max_diff": self.batch_max_diff,
            **self._joint_summary(),
            "per_image": [{k: v for k, v in asdict(r).items() if k not in ("ious", "score_diffs")} | {"ok": r.ok}
                          for r in self.images],
        }


    def _joint_summary(self) -> dict:
        """A pose model's joint agreement at batch 1 and at batch B (nothing for a plain detector)."""
        out = {}
        for key, part in (("joints", self.images), ("batch_joints", self.batch_images)):
            share = self.joint_share(part)
            if share is not None:
                out[key] = {"total": sum(r.joints for r in part), "agree": sum(r.joints_agree for r in part),
                            "share": share, "max_px": max(r.joint_max_px for r in part)}
        if self.batch_images:
            out["batch_matched"] = sum(r.matched for r in self.batch_images)
            out["batch_missing"] = sum(r.missing for r in self.batch_images)
            out["batch_extra"] = sum(r.extra for r in self.batch_images)
        return out


def outputs_per_image(outputs: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """Split the padded deployed outputs (by name) into per-image (boxes, scores, labels) in canvas pixels,
    plus the keypoints [n, J, 3] when the model has them."""
    num, boxes, scores, labels = (outputs[name] for name in OUTPUT_NAMES)
    joints = outputs.get(KEYPOINTS_OUTPUT)
    counts = np.asarray(num).reshape(len(boxes), -1)[:, 0]
    return [(boxes[i, :n], scores[i, :n], labels[i, :n]) + (() if joints is None else (joints[i, :n],))
            for i, n in enumerate(counts.astype(int))]
