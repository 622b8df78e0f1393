"""Every CPU path side by side: torchvision's own ONNX export in ONNX Runtime and in OpenVINO at f32 and
bf16 (the strongest peer a CPU user would pick, at the same canvas and proposal count as ours), our file
in ONNX Runtime and OpenVINO at fp32 and bf16, our NNCF INT8 file (convolutions only) in both, and
eager torchvision, on the same weights, canvas, photo and threads, timed interleaved run by run.

Each row reports inference p50, the speed-up over the best comparable peer row (the same proposal
budget; the peer's bf16 counted only against our bf16 rows) and over torchvision's export in ONNX
Runtime, detection agreement with
eager (the share of eager's detections found with the same label at IoU >= 0.5: of those scoring
>= 0.5, and of all above the model's score threshold) and, for trained models, mAP@.5 on their
validation split (pycocotools) — seeded random weights cannot judge reduced precision (their
detections flip under any perturbation), trained ones can. ``--budget MODEL=N`` adds rows at an RPN
proposal budget of N (``edgedet export --proposals N``), agreement still measured against the
full-budget eager model.

Models: ``mobilenet320`` (fasterrcnn_mobilenet_v3_large_320_fpn @ 320, seeded, 91 classes),
``mobilenet320-trained`` (the same architecture trained on the synthetic shapes at 320; trained once
with ``edgedet train`` and cached under ~/.cache/edgedet/bench), ``mobilenet-fpn``
(fasterrcnn_mobilenet_v3_large_fpn @ 800, seeded), ``resnet50`` (fasterrcnn_resnet50_fpn @ 800, seeded)
and ``demo`` (a demo run's checkpoint and data). ``--svd`` rows run at every budget of the model.

    python bench/cpu_backends.py --models mobilenet320 mobilenet320-trained --json cpu.json
    python bench/cpu_backends.py --models demo --demo runs/demo
    python bench/cpu_backends.py --models resnet50 --iters 8
    python bench/cpu_backends.py --models mobilenet-fpn --iters 12 --budget mobilenet-fpn=300
    python bench/cpu_backends.py --models mobilenet320-trained --svd mobilenet320-trained=fc6=256,fc7=256
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch

from edgedet.architectures import set_proposal_budget
from edgedet.architectures.seeded import seeded_model
from edgedet.checkpoints import model_from_checkpoint
from edgedet.data.coco import CocoData, load_split
from edgedet.eager_detector import TorchDetector, canvas_tensor
from edgedet.evaluation.coco_eval import evaluate
from edgedet.export.box_head_svd import factor_box_head, parse_ranks
from edgedet.export.check import parity_images, sample_photos
from edgedet.export.int8_file import GateLimits, write_int8_model
from edgedet.export.onnx_export import ExportOptions, export_onnx
from edgedet.runtime.agreement import agreement
from edgedet.runtime.detector import BackendInfo, Detector
from edgedet.runtime.letterbox import letterbox
from edgedet.runtime.loader import load_detector
from edgedet.runtime.model_metadata import ModelMetadata
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.profiling import profile_side_by_side

sys.path.insert(0, str(Path(__file__).parent))
from export_latency import torchvision_export  # noqa: E402

CACHE = Path.home() / ".cache" / "edgedet" / "bench"


class TorchvisionExportDetector(Detector):
    """torchvision's ``torch.onnx.export`` of the same model, in ONNX Runtime or OpenVINO (f32 or bf16: the
    strongest peer on a CPU reads that file unchanged), behind the Detector contract so it is timed and
    matched exactly like ours: uint8 canvases in, padded outputs out (its graph takes one CHW float image
    per run)."""

    def __init__(self, path: Path, class_names: tuple[str, ...], canvas: tuple[int, int], threads: int,
                 backend: str = "onnxruntime", precision: str = "fp32") -> None:
        self.class_names, self.canvas, self.path = class_names, canvas, path
        self.backend, self.precision_name = backend, precision
        if backend == "onnxruntime":
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self._run = lambda image: session.run(None, {"image": image})
        else:
            import openvino as ov

            from edgedet.runtime.openvino_detector import inlined_model_bytes

            core = ov.Core()
            hint = {"fp32": "f32", "bf16": "bf16"}[precision]
            compiled = core.compile_model(core.read_model(model=inlined_model_bytes(path)[0]), "CPU",
                                          {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads,
                                           "NUM_STREAMS": 1})
            request, outputs = compiled.create_infer_request(), compiled.outputs

            def run(image: np.ndarray) -> list[np.ndarray]:
                result = request.infer({0: image})  # once: its outputs are read from the one result
                return [np.array(result[o]) for o in outputs]

            self._run = run

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        # canvas_tensor's values in numpy: torch's own threads, spinning after a call, slowed the next path
        runs = [self._run(np.ascontiguousarray(c.transpose(2, 0, 1)).astype(np.float32) / np.float32(255.0))
                for c in batch]
        k = max([len(r[2]) for r in runs] + [1])
        out = {"num_detections": np.zeros(len(runs), np.int32), "boxes": np.zeros((len(runs), k, 4), np.float32),
               "scores": np.zeros((len(runs), k), np.float32), "labels": np.zeros((len(runs), k), np.int64)}
        for i, (boxes, labels, scores) in enumerate(runs):
            n = len(scores)
            out["num_detections"][i] = n
            out["boxes"][i, :n], out["scores"][i, :n], out["labels"][i, :n] = boxes, scores, labels
        return out

    def describe(self) -> BackendInfo:
        return BackendInfo(str(self.path), "torchvision export", self.backend, "CPU", self.precision_name)

    def _close(self) -> None:
        self._run = None


PEER = "torchvision export"
PEER_PATHS = (("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"))


def best_peer_ms(label: str, p50: dict[str, float], proposals: int | None) -> float:
    """The fastest peer row comparable with ``label``: the same proposal budget, and bf16 counted only when
    ours computes in bf16 too (an f32 row of ours is held against the f32 peers)."""
    tag = f", {proposals} proposals" if proposals else ""
    names = [f"{PEER}, {backend} {precision}{tag}" for backend, precision in PEER_PATHS
             if precision != "bf16" or "bf16" in label]
    return min(p50[name] for name in names if name in p50)


@dataclass
class Subject:
    name: str
    model: torch.nn.Module
    meta: ModelMetadata
    calib: Path  # calibration images (a folder)
    val: CocoData | None  # labelled validation split for mAP@.5 (trained models)


def trained_mobilenet320() -> Path:
    """fasterrcnn_mobilenet_v3_large_320_fpn trained on synthetic shapes at 320 (about 20 minutes here,
    once; cached)."""
    run, data = CACHE / "mobilenet320_shapes", CACHE / "shapes320"
    if not (run / "best.pt").is_file():
        edgedet = [sys.executable, "-m", "edgedet.cli.app"]
        if not (data / "val" / "annotations.json").is_file():
            subprocess.run([*edgedet, "data", "synth", str(data), "--count", "1200", "--imgsz", "320", "--seed", "0"],
                           check=True)
        subprocess.run([*edgedet, "train", "--data", str(data), "--arch", "fasterrcnn_mobilenet_v3_large_320_fpn",
                        "--imgsz", "320", "--epochs", "2", "--out", str(run), "--eval-every", "0"], check=True)
    return run / "best.pt"


def photo_folder(canvas: tuple[int, int], folder: Path) -> Path:
    """Real photos and synthetic scenes as files: the calibration set of a seeded model."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in parity_images(canvas, synthetic=8, photos=True):
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return folder


SEEDED = {"mobilenet320": ("fasterrcnn_mobilenet_v3_large_320_fpn", 320),
          "mobilenet-fpn": ("fasterrcnn_mobilenet_v3_large_fpn", 800), "resnet50": ("fasterrcnn_resnet50_fpn", 800)}


def subject(name: str, args: argparse.Namespace, tmp: Path) -> Subject:
    if name in SEEDED:
        arch, side = SEEDED[name]
        model = seeded_model(arch, 91, (side, side), seed=0)
        names = ("__background__",) + tuple(f"c{i}" for i in range(1, 91))
        meta = ModelMetadata(arch, names, (side, side))
        return Subject(name, model, meta, photo_folder((side, side), tmp / f"{name}_calib"), None)
    if name == "mobilenet320-trained":
        checkpoint, data = trained_mobilenet320(), CACHE / "shapes320"
    else:
        checkpoint, data = args.demo / "train" / "best.pt", args.demo / "data"
    model, meta = model_from_checkpoint(checkpoint)
    return Subject(name, model, meta.model_metadata(), data / "train" / "images", load_split(data, "val"))


def budget_model(model: torch.nn.Module, proposals: int) -> torch.nn.Module:
    budgeted = copy.deepcopy(model)
    set_proposal_budget(budgeted, proposals)
    return budgeted


def measure(sub: Subject, args: argparse.Namespace, tmp: Path) -> list[dict]:
    canvas, t = sub.meta.canvas, args.threads
    photo = sample_photos()[0][1]
    rows: dict[str, Detector] = {}
    gates = {}
    budgets = [None] + ([args.budget[sub.name]] if sub.name in args.budget else [])
    for proposals in budgets:
        tag = f", {proposals} proposals" if proposals else ""
        model = budget_model(sub.model, proposals) if proposals else sub.model
        stem = f"{sub.name}{proposals or ''}"
        theirs = tmp / f"{stem}.torchvision.onnx"  # the peer at the same proposal count as ours
        torchvision_export(model, canvas_tensor(letterbox(photo, canvas)[0]), theirs)
        for backend, precision in PEER_PATHS:
            if proposals and backend == "onnxruntime":
                continue
            rows[f"{PEER}, {backend} {precision}{tag}"] = TorchvisionExportDetector(
                theirs, sub.meta.class_names, canvas, t, backend, precision)
        ours = export_onnx(model, sub.meta, tmp / f"{stem}.onnx", ExportOptions(canvas, batch=None))
        int8 = write_int8_model(ours, sub.calib, tmp / f"{stem}.int8.onnx", subset=args.calib,
                                labelled=sub.val, limits=GateLimits(force=True), threads=t, iters=0)
        gates[proposals or "default"] = int8.gate.as_dict()
        rows[f"ours, onnxruntime fp32{tag}"] = OnnxDetector(ours, threads=t, spin=False)
        if not proposals:
            rows["ours, openvino fp32"] = load_detector(ours, backend="openvino", threads=t)
        rows[f"ours, openvino bf16{tag}"] = load_detector(ours, backend="openvino", precision="bf16", threads=t)
        if not proposals:
            rows["ours int8, onnxruntime"] = load_detector(int8.path, precision="int8", threads=t)
        rows[f"ours int8, openvino{tag}"] = load_detector(int8.path, backend="openvino", precision="int8", threads=t)
        rows[f"ours int8, openvino bf16 rest{tag}"] = load_detector(int8.path, backend="openvino", precision="bf16",
                                                                    threads=t)
    for proposals in budgets if sub.name in args.svd else []:  # the box head factored (export --svd-rank)
        spec = args.svd[sub.name]
        tag = (f", {proposals} proposals" if proposals else "") + f", svd {spec}"
        factored = budget_model(sub.model, proposals) if proposals else copy.deepcopy(sub.model)
        factor_box_head(factored, parse_ranks(spec))
        stem = f"{sub.name}{proposals or ''}.svd"
        svd = export_onnx(factored, sub.meta, tmp / f"{stem}.onnx", ExportOptions(canvas, batch=None))
        int8 = write_int8_model(svd, sub.calib, tmp / f"{stem}.int8.onnx", subset=args.calib,
                                labelled=sub.val, limits=GateLimits(force=True), threads=t, iters=0)
        gates[f"svd {spec}" + (f" {proposals}" if proposals else "")] = int8.gate.as_dict()
        rows[f"ours, onnxruntime fp32{tag}"] = OnnxDetector(svd, threads=t, spin=False)
        rows[f"ours, openvino bf16{tag}"] = load_detector(svd, backend="openvino", precision="bf16", threads=t)
        rows[f"ours int8, openvino{tag}"] = load_detector(int8.path, backend="openvino", precision="int8", threads=t)
        rows[f"ours int8, openvino bf16 rest{tag}"] = load_detector(int8.path, backend="openvino", precision="bf16",
                                                                    threads=t)
    eager = rows["eager torchvision"] = TorchDetector(sub.model, sub.meta.class_names, canvas)
    frames = [img for _, img in parity_images(canvas, synthetic=4, photos=True)]
    runs = profile_side_by_side(rows, [photo], 1, args.iters, args.warmup)
    p50 = {label: run["inference_ms"]["p50"] for label, run in runs.items()}
    base = p50[f"{PEER}, onnxruntime fp32"]
    out = []
    for label, det in rows.items():
        confident, n_confident = agreement(det, eager, frames)
        every, n_every = agreement(det, eager, frames, min_score=sub.meta.score_thresh)
        proposals = next((n for n in budgets if n and f", {n} proposals" in label), None)
        row = {"model": sub.name, "path": label, "p50_ms": p50[label],
               "speedup_vs_torchvision_export": round(base / p50[label], 3),
               "speedup_vs_best_peer": round(best_peer_ms(label, p50, proposals) / p50[label], 3),
               "agreement_confident": round(confident, 4), "eager_confident": n_confident,
               "agreement_all": round(every, 4), "eager_all": n_every}
        if sub.val is not None:
            row["map50"] = round(evaluate(det, sub.val)["map50"], 4)
        out.append(row)
        print(f"  {label:48s} {row['p50_ms']:8.1f} ms {row['speedup_vs_torchvision_export']:5.2f}x "
              f"{row['speedup_vs_best_peer']:5.2f}x best peer  agreement "
              f"{100 * confident:5.1f} % of {n_confident} / {100 * every:5.1f} % of {n_every}"
              + (f"  mAP@.5 {row['map50']:.3f}" if "map50" in row else ""), flush=True)
    for det in rows.values():
        det.close()
    out[0]["int8_gates"] = gates
    return out


def markdown(rows: list[dict]) -> str:
    lines = ["| model | path | p50 ms | vs best peer | vs torchvision export (ORT) | agreement with eager: score >= "
             "0.5 / all | mAP@.5 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        map50 = f"{r['map50']:.3f}" if "map50" in r else "—"
        lines.append(f"| {r['model']} | {r['path']} | {r['p50_ms']:.1f} | {r['speedup_vs_best_peer']:.2f}x | "
                     f"{r['speedup_vs_torchvision_export']:.2f}x | "
                     f"{100 * r['agreement_confident']:.1f} % of {r['eager_confident']} / "
                     f"{100 * r['agreement_all']:.1f} % of {r['eager_all']} | {map50} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """One panel per model: each path's speed-up over torchvision's export, mAP@.5 where known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(len(models), 1, figsize=(8, 2.2 + 0.32 * len(rows)), dpi=110, squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        mine = [r for r in rows if r["model"] == model]
        ys = range(len(mine))
        colors = ["#999999" if "torchvision" in r["path"] or "eager" in r["path"] else
                  "#d62728" if "int8" in r["path"] else "#ff7f0e" if "bf16" in r["path"] else "#1f77b4"
                  for r in mine]
        ax.barh(ys, [r["speedup_vs_torchvision_export"] for r in mine], color=colors)
        ax.set_yticks(list(ys), [r["path"] + (f"  (mAP@.5 {r['map50']:.3f})" if "map50" in r else "")
                                 for r in mine], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_title(f"{model}: speed-up over torchvision's export in onnxruntime", fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def parse_budgets(items: list[str]) -> dict[str, int]:
    """'mobilenet320=50' pairs: extra rows at that RPN proposal budget for that model."""
    return {name: int(n) for name, _, n in (item.partition("=") for item in items)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mobilenet320", "mobilenet320-trained", "resnet50"],
                    choices=[*SEEDED, "mobilenet320-trained", "demo"])
    ap.add_argument("--demo", type=Path, default=Path("runs/demo"), help="A demo run's folder (for 'demo').")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib", type=int, default=64, help="Calibration images at most.")
    ap.add_argument("--budget", nargs="*", default=["mobilenet320=50", "mobilenet320-trained=50", "demo=50"],
                    help="MODEL=N: also run that model at N RPN proposals (validated on the trained models).")
    ap.add_argument("--svd", nargs="*", default=[], metavar="MODEL=RANKS",
                    help="Also run that model with its box head factored, e.g. mobilenet320-trained=fc6=256,fc7=256 "
                    "(the ranks as edgedet export --svd-rank takes them), fp32, bf16 and INT8.")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--png", type=Path, help="A bar chart of the speed-ups.")
    ap.add_argument("--replot", type=Path, nargs="+", help="Only draw --png from earlier --json files.")
    args = ap.parse_args()
    args.budget = parse_budgets(args.budget)
    args.svd = dict(item.partition("=")[::2] for item in args.svd)
    if args.replot:
        rows = [r for f in args.replot for r in json.loads(f.read_text())]
        plot(rows, args.png)
        return
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            print(f"{name}:", flush=True)
            rows += measure(subject(name, args, Path(tmp)), args, Path(tmp))
    print(markdown(rows))
    if args.png:
        plot(rows, args.png)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
