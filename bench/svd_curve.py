"""Truncated SVD of the box head: mAP@.5 against latency over ranks, for one trained model, measured side
by side in one process.

Every rank's file is what ``edgedet export --svd-rank`` writes (factored in torch, exported, exact
against the factored eager model); each is evaluated with pycocotools on the validation split in ONNX
Runtime fp32 and OpenVINO bf16, and all files are timed interleaved run by run (one val image, batch 1,
the same threads) on both backends, so machine noise hits every rank alike. ``full`` is the unfactored
export, the reference of every ratio.

    python bench/svd_curve.py runs/demo/train/best.pt --data runs/demo/data --ranks 128 64 32 16 --json svd.json
    python bench/svd_curve.py m320/best.pt --data shapes320 --ranks fc6=512,fc7=512 fc6=256,fc7=256 fc6=128,fc7=128
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

import torch

from edgedet.checkpoints import model_from_checkpoint
from edgedet.data.coco import load_split
from edgedet.eager_detector import TorchDetector
from edgedet.evaluation.coco_eval import evaluate
from edgedet.export.box_head_svd import factor_box_head, head_layers, parse_ranks
from edgedet.export.check import compare_detectors, parity_images
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.runtime.images import read_rgb
from edgedet.runtime.loader import Backend, load_detector
from edgedet.runtime.profiling import profile_side_by_side

PATHS = (("onnxruntime", "fp32"), ("openvino", "bf16"))


def head_cost(model: torch.nn.Module) -> int:
    """Multiply-adds per proposal of the box head's fully connected layers."""
    return sum(m.in_features * m.out_features for m in model.roi_heads.box_head.modules()
               if isinstance(m, torch.nn.Linear))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--ranks", nargs="+", required=True, help="rank specs as edgedet export --svd-rank takes them")
    ap.add_argument("--name", default=None, help="the model's name in the table (default: the checkpoint's run)")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    val = load_split(args.data, "val")
    base, meta = model_from_checkpoint(args.checkpoint)
    full_cost = head_cost(base)
    name = args.name or args.checkpoint.parent.name
    frame = read_rgb(val.images[0].path)
    rows, detectors = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in ["full", *args.ranks]:
            model = copy.deepcopy(base)
            facts = factor_box_head(model, parse_ranks(spec)) if spec != "full" else None
            path = export_onnx(model, meta.model_metadata(), Path(tmp) / f"{len(rows)}.onnx",
                               ExportOptions(meta.canvas, batch=None))
            eager = TorchDetector(model, meta.class_names, meta.canvas)
            row = {"model": name, "ranks": facts.ranks if facts else "full",
                   "head_cost": round(head_cost(model) / full_cost, 4),
                   "energy": {f.name: round(f.energy, 4) for f in facts.layers} if facts else {}}
            for backend, precision in PATHS:
                det = load_detector(path, backend=Backend(backend), precision=precision, threads=args.threads)
                key = f"{backend} {precision}"
                if backend == "onnxruntime":
                    parity = compare_detectors(det, eager, parity_images(meta.canvas, synthetic=4, photos=False),
                                               batch=1)
                    row["parity_ok"] = parity.ok
                row[f"map50 {key}"] = round(float(evaluate(det, val)["map50"]), 4)
                detectors[(len(rows), key)] = det
            rows.append(row)
        runs = profile_side_by_side({f"{i} {key}": det for (i, key), det in detectors.items()}, [frame], 1,
                                    args.iters, warmup=5)
        for det in detectors.values():
            det.close()
    for i, row in enumerate(rows):
        for backend, precision in PATHS:
            key = f"{backend} {precision}"
            row[f"p50 {key}"] = round(runs[f"{i} {key}"]["inference_ms"]["p50"], 2)
            row[f"speedup {key}"] = round(rows[0][f"p50 {key}"] / row[f"p50 {key}"], 3) if i else 1.0
            row[f"map50 change {key}"] = round(row[f"map50 {key}"] - rows[0][f"map50 {key}"], 4)
    layers = ", ".join(f"{n} {m.out_features}x{m.in_features}" for n, m in head_layers(base).items())
    print(f"{name}: box head {layers}")
    print("| ranks | head cost | mAP@.5 ort / ov bf16 | p50 ms ort | p50 ms ov bf16 | speed-up ort / ov |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ranks = r["ranks"] if r["ranks"] == "full" else ",".join(f"{k}={v}" for k, v in r["ranks"].items())
        print(f"| {ranks} | {100 * r['head_cost']:.0f} % | {r['map50 onnxruntime fp32']:.3f} / "
              f"{r['map50 openvino bf16']:.3f} | {r['p50 onnxruntime fp32']:.1f} | {r['p50 openvino bf16']:.1f} | "
              f"{r['speedup onnxruntime fp32']:.2f}x / {r['speedup openvino bf16']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
