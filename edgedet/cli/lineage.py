"""``edgedet lineage``: every method on the road to Faster R-CNN trained and evaluated on one data set,
with one evaluation (pycocotools through the ``Detector`` contract), within one time budget.

The composition root of the lineage: the methods live in ``edgedet.lineage`` (model side); this
module also exports the Fast R-CNN and checks its file against the eager model, which is the
exporter's job and so cannot happen inside the model side.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedet.runtime.atomic import write_json

# shares of the budget the first trainings get; the three Faster R-CNN runs split what is left of it
# after everything before them, less RESERVE_S for their evaluations, the RPN's recall and the chart
SHARES = {"crops": 0.05, "fast_rcnn": 0.1}
RESERVE_S = 75.0
PAPERS = {  # the papers' own seconds per image (GPU of the day), quoted next to ours
    "rcnn": "47 s/image (K40, VGG16)", "fast_rcnn": "0.32 s + ~2 s selective search (K40)",
    "faster_rcnn_align": "0.2 s (K40, VGG16; RoI Pool in the paper)",
}


@dataclass
class LineageConfig:
    out: Path
    data: Path | None = None  # None: synthesise the shapes into OUT/data
    budget_min: float = 15.0
    images: int = 600
    size: int = 192
    seed: int = 0
    workers: int = max(1, min(2, os.cpu_count() or 1))
    max_proposals: int = 2000
    rcnn_train_images: int = 320  # selective search, R-CNN's SVMs and Fast R-CNN train on these
    window_train_images: int = 200
    export: bool = True  # the Fast R-CNN to ONNX, checked against the eager model


def _canvases(records, canvas: tuple[int, int]) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Every image letterboxed into the canvas, with its boxes in canvas pixels and its labels."""
    from edgedet.runtime.images import read_rgb
    from edgedet.runtime.letterbox import DEFAULT_FILL, letterbox

    canvases, boxes, labels = [], [], []
    for record in records:
        image, scale = letterbox(read_rgb(record.path), canvas, DEFAULT_FILL)
        canvases.append(image)
        boxes.append(record.boxes * scale)
        labels.append(record.labels)
    return canvases, boxes, labels


def _evaluate(detector, val, row: dict) -> dict:
    """pycocotools mAP through the shared evaluation, and the time per image: split into proposals /
    features / head where the method times its stages (``MethodDetector``), whole otherwise."""
    from edgedet.evaluation.coco_eval import coco_metrics, predict_dataset

    t = time.perf_counter()
    results = predict_dataset(detector, val)
    elapsed = time.perf_counter() - t
    metrics = coco_metrics(val, results)
    row.update(map=metrics["map"], map50=metrics["map50"])
    clock = getattr(detector, "clock", None)
    row.update(clock.per_image() if clock is not None else {"s_per_image": elapsed / len(val.images)})
    return row


def run_lineage(cfg: LineageConfig, say: Callable[[str], None] = print) -> dict:
    import torch

    from edgedet.architectures import check_canvas
    from edgedet.checkpoints import model_from_checkpoint
    from edgedet.data.coco import load_split
    from edgedet.data.synthetic import synthesize
    from edgedet.eager_detector import TorchDetector
    from edgedet.lineage import faster_rcnn, rcnn, single_object, sliding_window
    from edgedet.lineage.chart import plot_lineage
    from edgedet.lineage.fast_rcnn import FastRCNN, fast_rcnn_detector, train_fast_rcnn
    from edgedet.lineage.method_detector import ProposalCache
    from edgedet.lineage.recall import proposal_recall, recall_with_counts
    from edgedet.runtime.selective_search import selective_search, selective_search_many

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t_all = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    budget = cfg.budget_min * 60.0
    report: dict = {"config": {k: str(v) for k, v in vars(cfg).items()}, "rows": [], "seconds": {}}

    def save(row: dict | None = None) -> None:
        if row is not None:
            report["rows"].append(row)
            say(_row_line(row))
        write_json(out / "lineage.json", report)

    data_dir = cfg.data
    if data_dir is None:
        data_dir = out / "data"
        synthesize(data_dir, cfg.images, cfg.seed, (cfg.size, cfg.size))
    train, val = load_split(data_dir, "train"), load_split(data_dir, "val")
    side = cfg.size if cfg.data is None else 256
    canvas = check_canvas((side, side))
    num_classes = train.num_classes
    names = train.class_names

    say("[single object: classification + localisation on crops; pre-trains the CNN]")
    row, net = single_object.run_single_object(train, val, SHARES["crops"] * budget, cfg.seed)
    backbone_file = out / "pretrained_backbone.pt"
    torch.save(net.body.state_dict(), backbone_file)
    save(row)

    say("[sliding window + AdaBoost]")
    boosted, info = sliding_window.train_sliding_window(train, cfg.window_train_images, cfg.seed)
    detector = sliding_window.sliding_window_detector(boosted, names, canvas)
    save(_evaluate(detector, val, {"method": "sliding_window_adaboost", **info, "params": None,
                                   "proposals_per_image": None}))

    say("[selective search on the val images and an R-CNN training subset]")
    t = time.perf_counter()
    val_canvases, val_gt, _ = _canvases(val.images, canvas)
    # selective search, R-CNN's SVMs and Fast R-CNN train on the first rcnn_train_images
    train_canvases, train_gt, train_labels = _canvases(train.images[:cfg.rcnn_train_images], canvas)
    t0 = time.perf_counter()
    timed = [selective_search(c, cfg.max_proposals) for c in val_canvases[:5]]
    ss_seconds = (time.perf_counter() - t0) / len(timed)  # one process, as a deployed Fast R-CNN runs it
    cache = ProposalCache(ss_seconds, cfg.max_proposals)
    ss_val = timed + selective_search_many(val_canvases[len(timed):], cfg.max_proposals, cfg.workers)
    ss_train = selective_search_many(train_canvases, cfg.max_proposals, cfg.workers)
    for c, b in zip(val_canvases, ss_val):
        cache.add(c, b)
    report["seconds"]["selective_search"] = round(time.perf_counter() - t, 1)
    ss_recall = proposal_recall(ss_val, val_gt)
    save({"method": "selective_search", "map": None, "map50": None, "s_per_image": ss_seconds,
          "s_proposals": ss_seconds, **ss_recall, "note": "proposals only: recall, no detections"})

    say("[R-CNN: warped proposals -> CNN features -> per-class linear SVMs (+ box regression)]")
    head, info = rcnn.train_rcnn(train_canvases, train_gt, train_labels, ss_train, net, num_classes, cfg.seed)
    params = sum(p.numel() for p in net.body.parameters())
    for regress in (True, False):
        detector = rcnn.rcnn_detector(net, head, cache, names, canvas, regress=regress)
        save(_evaluate(detector, val, {"method": detector.name, **info, "params": params, **ss_recall}))

    say("[Fast R-CNN: one backbone pass, RoI Pool of each proposal, softmax + smooth-L1 heads]")
    fast = FastRCNN(num_classes, canvas)
    fast.load_pretrained(net.body)
    t = time.perf_counter()
    info = train_fast_rcnn(fast, train_canvases, train_gt, train_labels, ss_train, SHARES["fast_rcnn"] * budget,
                           cfg.seed)
    fast_detector = fast_rcnn_detector(fast, cache, names, canvas)
    fast_row = _evaluate(fast_detector, val, {"method": "fast_rcnn", "train_s": round(time.perf_counter() - t, 1),
                                              "train_steps": info["steps"], "pretrained": True,
                                              "params": sum(p.numel() for p in fast.parameters()),
                                              **ss_recall})
    if cfg.export:
        fast_row["onnx"] = export_fast_rcnn(fast, names, canvas, out / "fast_rcnn.onnx", fast_detector,
                                            val_canvases[:4], cache.padded)
    save(fast_row)

    say("[Faster R-CNN: the RPN replaces selective search; RoI Align vs RoI Pool; scratch vs pre-trained]")
    step_s = faster_rcnn.seconds_per_step(str(data_dir), canvas, 4)
    each = max(5.0, (budget - (time.perf_counter() - t_all) - RESERVE_S) / 3)
    steps = max(10, int(each / step_s))
    report["faster_steps"] = steps
    runs = {"faster_rcnn_align": {}, "faster_rcnn_pool": {"roi_mode": "pool"}}
    for method, overrides in runs.items():
        t = time.perf_counter()
        result = faster_rcnn.train_for(str(data_dir), out / method, canvas, steps, seed=cfg.seed, **overrides)
        model, meta = model_from_checkpoint(result.best)
        row = {"method": method, "train_s": round(time.perf_counter() - t, 1), "train_steps": steps,
               "params": sum(p.numel() for p in model.parameters()), "pretrained": False,
               "proposals_per_image": int(model.rpn._post_nms_top_n["testing"])}
        if method == "faster_rcnn_align":  # its RPN's recall, at the counts selective search is measured at
            rpn = faster_rcnn.rpn_proposals(model, val_canvases, cfg.max_proposals)
            rpn_recall = proposal_recall(rpn, val_gt)
            report["rpn_recall"] = rpn_recall
            report["equal_count_recall"] = {  # each image: the RPN's top N, N = what selective search found
                "selective_search": recall_with_counts(ss_val, val_gt, [len(b) for b in ss_val]),
                "rpn": recall_with_counts(rpn, val_gt, [len(b) for b in ss_val])}
            row.update({k: v for k, v in rpn_recall.items() if k.startswith("recall@")})
        save(_evaluate(TorchDetector(model, names, canvas, architecture=method), val, row))

    t = time.perf_counter()
    half = max(1, steps // 2)  # pre-trained backbone: frozen for half the steps, then all layers
    frozen = faster_rcnn.train_for(str(data_dir), out / "faster_rcnn_pretrained_frozen", canvas, half, seed=cfg.seed,
                                   backbone_weights=str(backbone_file), trainable_layers=0)
    tuned = faster_rcnn.train_for(str(data_dir), out / "faster_rcnn_pretrained", canvas, steps - half,
                                  seed=cfg.seed, weights=str(frozen.best))
    model, _ = model_from_checkpoint(tuned.best)
    save(_evaluate(TorchDetector(model, names, canvas, architecture="pretrained"), val,
                   {"method": "faster_rcnn_pretrained", "train_s": round(time.perf_counter() - t, 1),
                    "train_steps": steps, "pretrained": True, "params": sum(p.numel() for p in model.parameters()),
                    "proposals_per_image": int(model.rpn._post_nms_top_n["testing"])}))

    report["orderings"] = orderings(report["rows"], report["equal_count_recall"])
    report["papers"] = PAPERS
    report["seconds"]["total"] = round(time.perf_counter() - t_all, 1)
    plot_lineage(report["rows"], out / "lineage.png")
    save()
    return report


def orderings(rows: list[dict], equal_count: dict) -> dict:
    """What the lecture claims, as measured here: each a yes/no with the two numbers compared. Recall
    is compared at equal counts per image (the RPN's top N where selective search found N)."""
    by = {r["method"]: r for r in rows}

    def pair(a: str, b: str, key: str, lower: bool = False) -> dict:
        x, y = by[a].get(key), by[b].get(key)
        holds = None if x is None or y is None else (x < y if lower else x > y)
        return {"holds": holds, a: x, b: y}

    recall = {f"iou{t}": {"holds": equal_count["rpn"][f"recall_iou{t}"] > equal_count["selective_search"][
        f"recall_iou{t}"], "rpn": equal_count["rpn"][f"recall_iou{t}"],
        "selective_search": equal_count["selective_search"][f"recall_iou{t}"]} for t in (0.5, 0.7)}
    return {
        "fast_rcnn_faster_than_rcnn": pair("fast_rcnn", "rcnn", "s_per_image", lower=True),
        "rpn_recall_beats_selective_search_at_equal_count": recall,
        "box_regression_raises_map": pair("rcnn", "rcnn_no_bbox_reg", "map"),
        "roi_align_beats_roi_pool": pair("faster_rcnn_align", "faster_rcnn_pool", "map"),
        "pretrained_beats_scratch": pair("faster_rcnn_pretrained", "faster_rcnn_align", "map"),
    }


def export_fast_rcnn(model, names, canvas: tuple[int, int], path: Path, eager, canvases: list[np.ndarray],
                     proposals) -> dict:
    """The Fast R-CNN to one ONNX file (``rois`` as a second input), checked against the eager model on
    a few val canvases; both take the same selective-search proposals (``proposals``: the eager model's
    cache, so the check compares the networks, not two searches)."""
    from edgedet.export.check import compare_detectors
    from edgedet.export.onnx_export import ExportOptions, export_onnx
    from edgedet.lineage.fast_rcnn import MAX_ROIS
    from edgedet.runtime.model_metadata import ModelMetadata
    from edgedet.runtime.onnx_detector import OnnxDetector

    export_onnx(model, ModelMetadata("fast_rcnn_edge", tuple(names), canvas), path,
                ExportOptions(canvas, batch=None, rois=MAX_ROIS))
    with OnnxDetector(path, proposals=proposals) as detector:
        report = compare_detectors(detector, eager, [(f"val{i}", c) for i, c in enumerate(canvases)], batch=2)
    summary = {k: v for k, v in report.summary().items() if k in (
        "ok", "matched", "missing", "extra", "iou_min", "score_diff_max", "batch_consistent")}
    return {"file": str(path), "parity": summary}


def _row_line(row: dict) -> str:
    def fmt(key: str, spec: str) -> str:
        value = row.get(key)
        return "-" if value is None else format(value, spec)

    if row.get("map50") is None and "accuracy" in row:
        return f"  {row['method']:<24s} accuracy {row['accuracy']:.3f}  box IoU {row['mean_iou']:.3f}"
    if row.get("map50") is None:
        return (f"  {row['method']:<24s} recall@2000 (IoU .5/.7) {fmt('recall@2000_iou0.5', '.3f')}/"
                f"{fmt('recall@2000_iou0.7', '.3f')}  s/img {fmt('s_per_image', '.4f')}")
    return (f"  {row['method']:<24s} mAP@.5 {fmt('map50', '.3f'):>5s}  mAP {fmt('map', '.3f'):>5s}  "
            f"s/img {fmt('s_per_image', '.4f'):>7s}")
