"""Parity of every architecture at its own canvas (seeded random weights with spread heads), on
synthetic images and real photos, batch 1 and batch 4 from one dynamic-batch file.

    python bench/parity_all.py                 # all architectures, default canvases
    python bench/parity_all.py --arch fasterrcnn_resnet50_fpn --synthetic 2
    python bench/parity_all.py --backend openvino     # the same files through OpenVINO f32
    python bench/parity_all.py --arch keypointrcnn_resnet50_fpn --canvas 512   # joints too
    python bench/parity_all.py --weights runs/pose/train/best.pt               # a trained checkpoint

Keypoint R-CNNs (two classes, COCO's 17 joints when seeded) are checked on stick figures and photos;
their report adds the share of joints within 1 px and 1e-3 of eager at batch 1 and at batch 4.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from edgedet.architectures import ARCHITECTURES
from edgedet.architectures.seeded import seeded_model
from edgedet.checkpoints import default_pose, model_from_checkpoint
from edgedet.eager_detector import TorchDetector
from edgedet.export.check import compare_detectors, parity_images
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.runtime.loader import load_detector
from edgedet.runtime.model_metadata import ModelMetadata


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", action="append", help="repeatable; default: every torchvision architecture")
    ap.add_argument("--classes", type=int, default=91)
    ap.add_argument("--synthetic", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "openvino"])
    ap.add_argument("--canvas", type=int, help="square canvas instead of each architecture's own")
    ap.add_argument("--weights", type=Path, action="append", help="an edgedet checkpoint instead of seeded weights")
    args = ap.parse_args()
    torch.set_num_threads(2)
    archs = args.arch or [a for a, spec in ARCHITECTURES.items() if spec.torchvision]
    jobs = [(str(w), *model_from_checkpoint(w)) for w in args.weights or []] or [(a, None, None) for a in archs]
    results = {}
    for label, model, meta in jobs:
        arch = meta.architecture if meta else label
        spec = ARCHITECTURES[arch]
        canvas = (args.canvas, args.canvas) if args.canvas else meta.canvas if meta else spec.canvas
        if meta:
            names, joints, skeleton = meta.class_names, meta.keypoint_names, meta.skeleton
        else:
            classes = 2 if spec.keypoints else args.classes
            model = seeded_model(arch, classes, canvas, seed=0)
            names = ("__background__",) + tuple(f"c{i}" for i in range(1, classes))
            joints, skeleton = default_pose(spec.keypoints) if spec.keypoints else ((), ())
        file_meta = ModelMetadata(arch, names, canvas, keypoint_names=joints, skeleton=skeleton)
        images = parity_images(canvas, synthetic=args.synthetic, task="keypoints" if joints else "detection")
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            path = export_onnx(model, file_meta, Path(tmp) / "m.onnx", ExportOptions(canvas, batch=None))
            export_s = time.perf_counter() - t
            eager = TorchDetector(model, names, canvas, architecture=arch, pose=file_meta.pose)
            with load_detector(path, backend=args.backend) as candidate:
                report = compare_detectors(candidate, eager, images, batch=4)
        s = {k: v for k, v in report.summary().items() if k != "per_image"}
        s["export_s"] = round(export_s, 1)
        s |= {"architecture": arch, "canvas": list(canvas), "backend": args.backend}
        results[label] = s
        print(f"[{args.backend}] {arch} @ {canvas[0]}x{canvas[1]}: ok={s['ok']} images={s['images']} "
              f"eager={s['reference_detections']} "
              f"matched={s['matched']} missing={s['missing']} extra={s['extra']} ties@K={s['ties_at_cutoff']} "
              f"minIoU={s['iou_min']:.5f} max|dscore|={s['score_diff_max']:.2e} batch4==batch1: "
              f"{s['batch_consistent']} ({s['batch_max_diff']:.1e}) export {s['export_s']}s", flush=True)
        for key in ("joints", "batch_joints"):
            if key in s:
                print(f"    {key}: {s[key]['agree']}/{s[key]['total']} within 1 px and 1e-3 "
                      f"({100 * s[key]['share']:.2f}%), largest offset {s[key]['max_px']:.2f} px", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
