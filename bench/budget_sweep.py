"""The proposal budget: mAP@.5 against latency for one trained model exported at several RPN
proposal budgets (``edgedet export --proposals N``), measured side by side in one process.

Every budget's file is evaluated with pycocotools on the validation split (ONNX Runtime), checked
for parity against the eager model run at the same budget, and timed interleaved run by run
(one val image, batch 1, the same threads), so machine noise hits every budget alike. Prints a
table with the latency ratio against the model's own budget and writes a PNG.

    python bench/budget_sweep.py runs/demo/train/best.pt --data runs/demo/data --png budget.png
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgedet.architectures import set_proposal_budget
from edgedet.checkpoints import model_from_checkpoint
from edgedet.data.coco import load_split
from edgedet.eager_detector import TorchDetector
from edgedet.evaluation.coco_eval import evaluate
from edgedet.export.check import compare_detectors, parity_images
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.runtime.images import read_rgb
from edgedet.runtime.onnx_detector import OnnxDetector


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    xs, ys = [r["latency_p50_ms"] for r in rows], [r["map50"] for r in rows]
    ax.plot(xs, ys, "o-")
    for r in rows:
        ax.annotate(f"{r['proposals']}", (r["latency_p50_ms"], r["map50"]), textcoords="offset points",
                    xytext=(5, -12))
    ax.set_xlabel("inference p50 per frame (ms), onnxruntime CPU")
    ax.set_ylabel("mAP@.5 (val)")
    ax.set_ylim(max(0.0, min(ys) - 0.1), min(1.0, max(ys) + 0.05))  # a scale on which noise looks like noise
    ax.set_title("RPN proposals per image: accuracy vs latency")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100, 150])
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    val = load_split(args.data, "val")
    base, meta = model_from_checkpoint(args.checkpoint)
    default = int(base.rpn._post_nms_top_n["testing"])
    budgets = sorted(set(args.budgets) | {default})
    frame = read_rgb(val.images[0].path)
    rows, detectors = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in budgets:
            model, _ = model_from_checkpoint(args.checkpoint)
            pre, post = set_proposal_budget(model, n)
            path = export_onnx(model, meta.model_metadata(), Path(tmp) / f"p{n}.onnx",
                               ExportOptions(meta.canvas, batch=None))
            det = OnnxDetector(path, threads=args.threads, spin=False)  # sessions share the cores run by run
            eager = TorchDetector(model, meta.class_names, meta.canvas)
            parity = compare_detectors(det, eager, parity_images(meta.canvas, synthetic=4, photos=False), batch=1)
            m = evaluate(det, val)
            detectors[n] = det
            rows.append({"proposals": n, "pre_nms_per_level": pre, "map": round(m["map"], 4),
                         "map50": round(m["map50"], 4), "parity_ok": parity.ok,
                         "parity_matched": parity.summary()["matched"], "default": n == default})
        times: dict[int, list[float]] = {n: [] for n in budgets}
        for i in range(args.iters + 5):  # interleaved, run by run; the first 5 are warm-up
            for n in budgets:
                t0 = time.perf_counter()
                detectors[n]([frame])
                if i >= 5:
                    times[n].append((time.perf_counter() - t0) * 1e3)
        for det in detectors.values():
            det.close()
    ref = float(np.median(times[default]))
    for r in rows:
        r["latency_p50_ms"] = round(float(np.median(times[r["proposals"]])), 2)
        r["speedup_vs_default"] = round(ref / r["latency_p50_ms"], 2)
        r["map50_change"] = round(r["map50"] - next(x["map50"] for x in rows if x["proposals"] == default), 4)
    print(f"| proposals | mAP@.5 | change vs {default} | mAP | p50 ms | speed-up | parity vs eager |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['proposals']}{' (model default)' if r['proposals'] == default else ''} | {r['map50']:.3f} | "
              f"{r['map50_change']:+.3f} | {r['map']:.3f} | {r['latency_p50_ms']:.1f} | "
              f"{r['speedup_vs_default']:.2f}x | {r['parity_matched']} matched, ok={r['parity_ok']} |")
    if args.png:
        plot(rows, args.png)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
