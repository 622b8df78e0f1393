"""Score any ``Detector`` on COCO-format data with pycocotools.

Every backend is evaluated by this one function, so a precision or export change shows
its cost in mAP measured identically. On a keypoints data set the same detections are also
scored by OKS (``iouType="keypoints"``), under ``metrics["keypoints"]``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgedet.data.coco import CocoData
from edgedet.runtime.atomic import write_json
from edgedet.runtime.detections import Detections
from edgedet.runtime.detector import Detector
from edgedet.runtime.images import read_rgb

DEFAULT_SIGMA = 0.8  # OKS constant (COCO style, x10) for joints a data set gives none for: COCO's mean


def detections_to_coco(data: CocoData, image_id: int, dets: Detections) -> list[dict]:
    rows = []
    for i, (box, score, label) in enumerate(zip(dets.boxes, dets.scores, dets.labels)):
        x1, y1, x2, y2 = (float(v) for v in box)
        row = {"image_id": image_id, "category_id": data.label_to_category(int(label)),
               "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
               "score": round(float(score), 6)}
        if dets.keypoints is not None and data.keypoint_names:  # x, y, then the joint score (OKS ignores it)
            row["keypoints"] = [round(float(v), 3) for v in dets.keypoints[i].reshape(-1)]
        rows.append(row)
    return rows


def predict_dataset(detector: Detector, data: CocoData, batch_size: int = 4,
                    progress: Callable[[int], None] | None = None) -> list[dict]:
    results: list[dict] = []
    images = data.images
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        dets = detector([read_rgb(r.path) for r in chunk])
        for record, d in zip(chunk, dets):
            results.extend(detections_to_coco(data, record.id, d))
        if progress:
            progress(len(chunk))
    return results


def _run_cocoeval(gt, results: list[dict], iou_type: str, sigmas=None):
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(results), iou_type)
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = sigmas
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def keypoint_metrics(data: CocoData, gt, results: list[dict]) -> dict:
    """OKS mAP@[.5:.95], @.5 and @.75 (pycocotools ``iouType="keypoints"``) with the data set's
    per-joint sigmas (COCO's for COCO's person; ``DEFAULT_SIGMA`` for joints that have none)."""
    sigmas = data.keypoint_sigmas or (DEFAULT_SIGMA,) * len(data.keypoint_names)
    with_kp = [dict(r) for r in results if "keypoints" in r]  # loadRes writes into its records
    if not with_kp:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0, "sigmas": list(sigmas)}
    ev = _run_cocoeval(gt, with_kp, "keypoints", np.asarray(sigmas, np.float64) / 10.0)
    stats = ev.stats
    return {"map": float(max(stats[0], 0)), "map50": float(max(stats[1], 0)), "map75": float(max(stats[2], 0)),
            "sigmas": list(sigmas)}


def coco_metrics(data: CocoData, results: list[dict]) -> dict:
    """mAP@[.5:.95], mAP@.5, mAP@.75 and per-class AP from pycocotools' COCOeval; on a keypoints
    data set also the OKS metrics under ``keypoints``."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(data.annotation_file))
    if not results:
        empty = {"map": 0.0, "map50": 0.0, "map75": 0.0, "per_class": {n: 0.0 for n in data.class_names[1:]},
                 "num_detections": 0}
        if data.keypoint_names:
            empty["keypoints"] = keypoint_metrics(data, gt, [])
        return empty
    ev = _run_cocoeval(gt, [{k: v for k, v in r.items() if k != "keypoints"} for r in results], "bbox")
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        name = data.class_names[data.category_ids.index(cat_id) + 1]
        per_class[name] = float(valid.mean()) if valid.size else float("nan")
    stats = ev.stats
    metrics = {"map": float(max(stats[0], 0)), "map50": float(max(stats[1], 0)), "map75": float(max(stats[2], 0)),
               "per_class": per_class, "num_detections": len(results)}
    if data.keypoint_names:
        metrics["keypoints"] = keypoint_metrics(data, gt, results)
    return metrics


def evaluate(detector: Detector, data: CocoData, batch_size: int = 4, results_json: str | Path | None = None,
             progress: Callable[[int], None] | None = None) -> dict:
    results = predict_dataset(detector, data, batch_size, progress)
    if results_json:
        write_json(results_json, results, indent=None)
    return coco_metrics(data, results)

