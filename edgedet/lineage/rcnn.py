"""R-CNN (Girshick et al. 2014), small and honest: selective-search proposals, each warped (with
context) to the CNN's input, CNN features (our backbone, pre-trained on the crops' classification
task), one linear SVM per class (scikit-learn's one-vs-rest ``LinearSVC``: ground truth as positives,
proposals under 0.3 IoU as negatives, as the paper), and the paper's class-specific box regression
(targets dx, dy, log dw, log dh; ridge regression, lambda = 1000) on proposals within 0.6 IoU of an
object of that class. ``regress=False`` is the ablation without it."""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from torchvision.ops import batched_nms

from edgedet.lineage.cropnet import CropNet
from edgedet.lineage.crops import context_boxes, warp
from edgedet.lineage.method_detector import MethodDetector, ProposalCache, StageClock
from edgedet.runtime.agreement import box_iou

POSITIVE_IOU, NEGATIVE_IOU, REGRESS_IOU = 0.5, 0.3, 0.6
RIDGE_LAMBDA = 1000.0


def box_targets(proposals: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The paper's regression targets of ``gt`` relative to ``proposals``: dx, dy, log dw, log dh."""
    pw, ph = proposals[:, 2] - proposals[:, 0], proposals[:, 3] - proposals[:, 1]
    px, py = proposals[:, 0] + pw / 2, proposals[:, 1] + ph / 2
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    gx, gy = gt[:, 0] + gw / 2, gt[:, 1] + gh / 2
    return np.stack([(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)], 1)


def apply_targets(proposals: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    pw, ph = proposals[:, 2] - proposals[:, 0], proposals[:, 3] - proposals[:, 1]
    px, py = proposals[:, 0] + pw / 2, proposals[:, 1] + ph / 2
    cx, cy = px + deltas[:, 0] * pw, py + deltas[:, 1] * ph
    w, h = pw * np.exp(np.clip(deltas[:, 2], -4, 4)), ph * np.exp(np.clip(deltas[:, 3], -4, 4))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)


class RCNNHead:
    """Per-class linear SVMs and per-class ridge box regressors over CNN features."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.svm = make_pipeline(StandardScaler(), LinearSVC(C=0.01, max_iter=4000))
        self.regressors: dict[int, Ridge] = {}

    def fit(self, feats: np.ndarray, labels: np.ndarray, reg_feats: np.ndarray, reg_labels: np.ndarray,
            reg_targets: np.ndarray) -> RCNNHead:
        self.svm.fit(feats, labels)
        for c in range(1, self.num_classes):
            chosen = reg_labels == c
            if chosen.sum() >= 8:
                self.regressors[c] = Ridge(alpha=RIDGE_LAMBDA).fit(reg_feats[chosen], reg_targets[chosen])
        return self

    def class_scores(self, feats: np.ndarray) -> np.ndarray:
        """[N, C - 1] SVM margins of the object classes."""
        margins = self.svm.decision_function(feats)
        columns = [list(self.svm.classes_).index(c) for c in range(1, self.num_classes)]
        return margins[:, columns]


def training_samples(images: list[np.ndarray], gts: list[np.ndarray], labels: list[np.ndarray],
                     proposals: list[np.ndarray], net: CropNet, seed: int = 0, negatives: int = 24
                     ) -> tuple[np.ndarray, ...]:
    """SVM samples (ground truth boxes: positives; proposals < 0.3 IoU: negatives) and regression samples."""
    rng = np.random.default_rng(seed)
    svm_crops, svm_labels, reg_crops, reg_labels, reg_targets = [], [], [], [], []
    for image, gt, lab, props in zip(images, gts, labels, proposals):
        iou = box_iou(props, gt) if len(gt) and len(props) else np.zeros((len(props), len(gt)))
        best = iou.max(1) if len(gt) else np.zeros(len(props))
        neg = props[best < NEGATIVE_IOU]
        neg = neg[rng.permutation(len(neg))[:negatives]]
        svm_crops.append(warp(image, context_boxes(np.concatenate([gt, neg]))))
        svm_labels.append(np.concatenate([lab, np.zeros(len(neg), np.int64)]))
        near = best >= REGRESS_IOU
        if near.any():
            owner = iou.argmax(1)[near]
            reg_crops.append(warp(image, context_boxes(props[near])))
            reg_labels.append(lab[owner])
            reg_targets.append(box_targets(props[near], gt[owner]))
    svm_feats = net.embed(np.concatenate(svm_crops))
    reg_feats = net.embed(np.concatenate(reg_crops)) if reg_crops else np.zeros((0, svm_feats.shape[1]))
    return (svm_feats, np.concatenate(svm_labels), reg_feats,
            np.concatenate(reg_labels) if reg_labels else np.zeros(0, np.int64),
            np.concatenate(reg_targets) if reg_targets else np.zeros((0, 4)))


def train_rcnn(images, gts, labels, proposals, net: CropNet, num_classes: int, seed: int = 0) -> tuple[RCNNHead, dict]:
    t0 = time.perf_counter()
    feats, lab, reg_feats, reg_lab, reg_t = training_samples(images, gts, labels, proposals, net, seed)
    head = RCNNHead(num_classes).fit(feats, lab, reg_feats, reg_lab, reg_t)
    return head, {"train_s": round(time.perf_counter() - t0, 1), "svm_samples": len(lab),
                  "regression_samples": len(reg_lab)}


def rcnn_detector(net: CropNet, head: RCNNHead, cache: ProposalCache, class_names, canvas, regress: bool = True,
                  max_proposals: int = 2000, nms_iou: float = 0.3, max_detections: int = 100) -> MethodDetector:
    def detect(image: np.ndarray, clock: StageClock):
        props = cache.get(image, clock)[:max_proposals]
        if not len(props):
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0)
        with clock("features"):
            feats = net.embed(warp(image, context_boxes(props)))
        with clock("head"):
            margins = head.class_scores(feats)  # [N, C-1]
            keep_p, keep_c = np.nonzero(margins > -1.0)
            boxes = props[keep_p]
            if regress:
                boxes = boxes.copy()
                for c in np.unique(keep_c):
                    reg = head.regressors.get(int(c) + 1)
                    if reg is not None:
                        rows = keep_c == c
                        boxes[rows] = apply_targets(props[keep_p[rows]], reg.predict(feats[keep_p[rows]]))
                h, w = image.shape[:2]
                boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
                boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
            scores = 1.0 / (1.0 + np.exp(-margins[keep_p, keep_c]))  # ranking only: a monotone squash
            b, s = torch.from_numpy(boxes), torch.from_numpy(scores.astype(np.float32))
            lab = torch.from_numpy(keep_c + 1)
            kept = batched_nms(b, s, lab, nms_iou)[:max_detections]
        return b[kept].numpy(), s[kept].numpy(), lab[kept].numpy()

    return MethodDetector("rcnn" if regress else "rcnn_no_bbox_reg", detect, class_names, canvas)
