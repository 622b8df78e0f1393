"""onnxruntime latency of edgedet's ONNX file vs torchvision's own ``torch.onnx.export`` vs eager
torchvision, same weights, same canvas, side by side in one process; prints ratios and node counts.

    python bench/export_latency.py --arch fasterrcnn_mobilenet_v3_large_320_fpn --imgsz 320
    python bench/export_latency.py --arch fasterrcnn_resnet50_fpn --imgsz 800 --iters 10
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
import warnings
from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from edgedet.architectures.seeded import seeded_model
from edgedet.eager_detector import canvas_tensor
from edgedet.export.check import sample_photos
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.export.parity import compare
from edgedet.runtime.letterbox import letterbox
from edgedet.runtime.model_metadata import ModelMetadata


def timed(fns: dict, iters: int, warmup: int) -> dict[str, np.ndarray]:
    """Milliseconds per call, the functions interleaved run by run so machine noise hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            out[name].append((time.perf_counter() - t) * 1000)
    return {name: np.array(v) for name, v in out.items()}


def session(path: Path, threads: int, spinning: bool) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def torchvision_export(model, image: torch.Tensor, path: Path, opset: int = 17) -> None:
    """torchvision's documented route: the TorchScript-based exporter on a list of CHW float images."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, ([image],), str(path), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=["boxes", "labels", "scores"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="fasterrcnn_mobilenet_v3_large_320_fpn")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--classes", type=int, default=91)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    canvas = (args.imgsz, args.imgsz)
    model = seeded_model(args.arch, args.classes, canvas, seed=0)
    photo = sample_photos()[0][1]
    canvas_img = letterbox(photo, canvas)[0]
    tensor = canvas_tensor(canvas_img)

    with tempfile.TemporaryDirectory() as tmp:
        ours_path, theirs_path = Path(tmp) / "ours.onnx", Path(tmp) / "theirs.onnx"
        names = ("__background__",) + tuple(f"c{i}" for i in range(1, args.classes))
        export_onnx(model, ModelMetadata(args.arch, names, canvas), ours_path, ExportOptions(canvas, batch=1))
        torchvision_export(model, tensor, theirs_path)
        node_counts = {k: sum(1 for _ in onnx.load(p).graph.node) for k, p in (("ours", ours_path),
                                                                             ("torchvision", theirs_path))}
        theirs_ops = Counter(n.op_type for n in onnx.load(theirs_path).graph.node)
        feed_ours = {"images": canvas_img[None]}
        feed_theirs = {"image": tensor.numpy()}
        # Side by side: both sessions share the cores run by run, so neither spins its threads
        # after a run (that would steal the other's time). Then each alone, default settings.
        ours = session(ours_path, args.threads, spinning=False)
        theirs = session(theirs_path, args.threads, spinning=False)
        o = ours.run(None, feed_ours)
        t = theirs.run(None, feed_theirs)
        with torch.inference_mode():
            e = model([tensor])[0]
        n = int(o[0][0])
        ours_dets = (o[1][0, :n], o[2][0, :n], o[3][0, :n])
        theirs_dets = (t[0], t[2], t[1])
        eager_dets = (e["boxes"].numpy(), e["scores"].numpy(), e["labels"].numpy())
        same = (compare("vs-torchvision", theirs_dets, ours_dets, n).ok
                and compare("vs-eager", eager_dets, ours_dets, n).ok)
        side = timed({"ours (onnxruntime)": partial(ours.run, None, feed_ours),
                      "torchvision export (onnxruntime)": partial(theirs.run, None, feed_theirs)},
                     args.iters, args.warmup)
        ours = theirs = None  # release both thread pools before timing alone
        alone = {}
        for name, path, feed in (("ours (onnxruntime)", ours_path, feed_ours),
                                 ("torchvision export (onnxruntime)", theirs_path, feed_theirs)):
            alone |= timed({name: partial(session(path, args.threads, spinning=True).run, None, feed)},
                           args.iters, args.warmup)
        with torch.inference_mode():
            alone |= timed({"eager torchvision": lambda: model([tensor])}, max(3, args.iters // 3), 1)

    print(f"{args.arch} at {args.imgsz}x{args.imgsz}, {args.threads} threads, {n} detections "
          f"(torchvision export: {len(t[0])}, eager: {len(e['boxes'])}; same detections: {same})")
    tables = {"side by side (interleaved, no spinning)": side, "each alone (default session settings)": alone}
    report = {}
    for title, lat in tables.items():
        base = np.percentile(lat["ours (onnxruntime)"], 50)
        print(f"{title:36s} {'p50 ms':>9s} {'p90 ms':>9s} {'p50 / ours':>11s}")
        report[title] = []
        for name, v in lat.items():
            p50, p90 = np.percentile(v, 50), np.percentile(v, 90)
            report[title].append({"name": name, "p50_ms": p50, "p90_ms": p90, "ratio_to_ours": p50 / base})
            print(f"  {name:34s} {p50:9.1f} {p90:9.1f} {p50 / base:10.2f}x")
    print(f"ONNX nodes: ours {node_counts['ours']}, torchvision {node_counts['torchvision']} "
          f"(torchvision's has If x{theirs_ops.get('If', 0)}, Loop x{theirs_ops.get('Loop', 0)}, "
          f"NonZero x{theirs_ops.get('NonZero', 0)}, Split x{theirs_ops.get('Split', 0)})")
    if args.json:
        args.json.write_text(json.dumps({"arch": args.arch, "imgsz": args.imgsz, "detections": n, "same": same,
                                         "iters": args.iters, "threads": args.threads, "latency": report,
                                         "nodes": node_counts}, indent=2))


if __name__ == "__main__":
    main()
