"""Parity of every architecture at its own canvas (seeded random weights with spread heads), on
synthetic images and real photos, batch 1 and batch 4 from one dynamic-batch file.

    python bench/parity_all.py                 # all architectures, default canvases
    python bench/parity_all.py --arch fasterrcnn_resnet50_fpn --synthetic 2
    python bench/parity_all.py --backend openvino     # the same files through OpenVINO f32
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
    args = ap.parse_args()
    torch.set_num_threads(2)
    # Keypoint R-CNNs: their keypoints are checked by tests/test_keypoint_export.py, not here (yet)
    archs = args.arch or [a for a, spec in ARCHITECTURES.items() if spec.torchvision and spec.keypoints is None]
    results = {}
    for arch in archs:
        canvas = ARCHITECTURES[arch].canvas
        model = seeded_model(arch, args.classes, canvas, seed=0)
        names = ("__background__",) + tuple(f"c{i}" for i in range(1, args.classes))
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            path = export_onnx(model, ModelMetadata(arch, names, canvas), Path(tmp) / "m.onnx",
                               ExportOptions(canvas, batch=None))
            export_s = time.perf_counter() - t
            eager = TorchDetector(model, names, canvas, architecture=arch)
            with load_detector(path, backend=args.backend) as candidate:
                report = compare_detectors(candidate, eager, parity_images(canvas, synthetic=args.synthetic),
                                           batch=4)
        s = {k: v for k, v in report.summary().items() if k != "per_image"}
        s["export_s"] = round(export_s, 1)
        results[arch] = s
        print(f"[{args.backend}] {arch} @ {canvas[0]}x{canvas[1]}: ok={s['ok']} images={s['images']} "
              f"eager={s['reference_detections']} "
              f"matched={s['matched']} missing={s['missing']} extra={s['extra']} ties@K={s['ties_at_cutoff']} "
              f"minIoU={s['iou_min']:.5f} max|dscore|={s['score_diff_max']:.2e} batch4==batch1: "
              f"{s['batch_consistent']} ({s['batch_max_diff']:.1e}) export {s['export_s']}s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
