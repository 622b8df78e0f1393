"""The main job, end to end on the embedded default: synthesise -> train -> evaluate -> export
-> check parity -> evaluate the ONNX file. Every step is timed into ``report.json``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class DemoConfig:
    out: Path
    images: int = 1000
    epochs: int = 5
    batch_size: int = 4
    lr: float = 4e-3
    seed: int = 0


def _write_report(path: Path, report: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    os.replace(tmp, path)


def run_demo(cfg: DemoConfig, say: Callable[[str], None] = print,
             train_runner: Callable | None = None) -> dict:
    import torch

    from edgedet.checkpoints import model_from_checkpoint, sha256_file
    from edgedet.data.coco import load_split
    from edgedet.data.synthetic import synthesize
    from edgedet.eager_detector import TorchDetector
    from edgedet.evaluation.coco_eval import evaluate
    from edgedet.training.trainer import TrainConfig, train
    from export.check import check_parity, parity_images
    from export.onnx_export import ExportOptions, export_onnx
    from runtime.model_metadata import ModelMetadata
    from runtime.onnx_detector import OnnxDetector

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"config": {k: str(v) for k, v in vars(cfg).items()}, "seconds": {}}
    t_all = time.perf_counter()

    def step(name: str):
        class _Timer:
            def __enter__(self):
                say(f"[{name}]")
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                report["seconds"][name] = round(time.perf_counter() - self.t, 2)
                _write_report(out / "report.json", report)

        return _Timer()

    with step("synth"):
        synthesize(out / "data", cfg.images, cfg.seed)
    with step("train"):
        tcfg = TrainConfig(data=str(out / "data"), out=str(out / "train"), epochs=cfg.epochs,
                           batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, eval_every=0)
        result = (train_runner or train)(tcfg)
        report["train"] = {"best": str(result.best), "loss_curve": str(result.curve_png)}
    val = load_split(out / "data", "val")
    model, meta = model_from_checkpoint(result.best)
    with step("eval"):
        metrics = evaluate(TorchDetector(model, meta["class_names"], tuple(meta["canvas"])), val)
        report.update(map=metrics["map"], map50=metrics["map50"], per_class=metrics["per_class"])
        say(f"eager mAP {metrics['map']:.3f}  mAP@.5 {metrics['map50']:.3f}")
    onnx_path = out / "model.onnx"
    with step("export"):
        canvas = tuple(meta["canvas"])
        mm = ModelMetadata(meta["arch"], tuple(meta["class_names"]), canvas, source_sha256=sha256_file(result.best))
        export_onnx(model, mm, onnx_path, ExportOptions(canvas=canvas, batch=None))
        report["onnx"] = str(onnx_path)
    with step("check"):
        parity = check_parity(onnx_path, model, meta["class_names"], parity_images(canvas, photos=True), batch=4)
        report["parity"] = {k: v for k, v in parity.summary().items() if k != "per_image"}
        say(f"parity {'OK' if parity.ok else 'FAILED'}: {report['parity']['matched']} matched, "
            f"{report['parity']['missing']} missing, {report['parity']['extra']} extra")
    with step("onnx_eval"):
        onnx_metrics = evaluate(OnnxDetector(onnx_path), val)
        report.update(onnx_map=onnx_metrics["map"], onnx_map50=onnx_metrics["map50"])
        say(f"ONNX mAP {onnx_metrics['map']:.3f}  mAP@.5 {onnx_metrics['map50']:.3f}")
    report["seconds"]["total"] = round(time.perf_counter() - t_all, 2)
    _write_report(out / "report.json", report)
    return report
