"""The main job, end to end on the embedded default: synthesise -> train -> evaluate -> export
-> check parity -> evaluate the ONNX file -> stream a video -> profile. Every step is timed
into ``report.json``.

``task="keypoints"`` runs the same path for pose estimation: stick figures, the edge Keypoint
R-CNN, OKS evaluation, the static file with the keypoint branch, parity of every joint, skeletons
drawn in the streamed video; the CPU fast-path comparison (int8, bf16) is the detection demo's."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgedet.runtime.atomic import write_json

POSE_MAX_DETECTIONS = 20


@dataclass
class DemoConfig:
    out: Path
    images: int = 1200
    epochs: int = 6
    batch_size: int = 4
    lr: float = 2e-3
    seed: int = 0
    task: str = "detection"  # or "keypoints"

    @property
    def arch(self) -> str:
        return "keypointrcnn_edge_fpn" if self.task == "keypoints" else "fasterrcnn_edge_fpn"


def write_video(frames: list, path: Path, fps: float = 30.0) -> None:
    """A synthetic 'camera' video from val images (MJPG in AVI: decodable everywhere)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def step_timer(report: dict, out: Path, say: Callable[[str], None]) -> Callable[[str], object]:
    """``with step(name):`` announces a demo step, times it into ``report["seconds"][name]`` and rewrites
    ``out/report.json``, so an interrupted demo still leaves a report of what finished."""

    def step(name: str):
        class _Timer:
            def __enter__(self):
                say(f"[{name}]")
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                report["seconds"][name] = round(time.perf_counter() - self.t, 2)
                write_json(out / "report.json", report)

        return _Timer()

    return step


def run_demo(cfg: DemoConfig, say: Callable[[str], None] = print,
             train_runner: Callable | None = None) -> dict:
    import torch

    from edgedet.architectures import set_box_postprocess
    from edgedet.checkpoints import model_from_checkpoint
    from edgedet.data.coco import load_split
    from edgedet.data.synthetic import synthesize
    from edgedet.data.tracking_frames import add_tracking_frames
    from edgedet.eager_detector import TorchDetector
    from edgedet.evaluation.coco_eval import evaluate
    from edgedet.export.check import check_parity, parity_images
    from edgedet.export.onnx_export import ExportOptions, export_onnx
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.training.trainer import TrainConfig, train

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"task": cfg.task, "config": {k: str(v) for k, v in vars(cfg).items()}, "seconds": {}}
    t_all = time.perf_counter()
    step = step_timer(report, out, say)
    pose = cfg.task == "keypoints"

    with step("synth"):
        synthesize(out / "data", cfg.images, cfg.seed, task=cfg.task)
        if not pose:  # the tracking renderer's frames too (its own seed), so the model follows its shapes
            report["tracking_frames"] = add_tracking_frames(out / "data" / "train", seed=cfg.seed + 1)
    with step("train"):
        tcfg = TrainConfig(data=str(out / "data"), out=str(out / "train"), arch=cfg.arch, epochs=cfg.epochs,
                           batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, eval_every=-1)
        result = (train_runner or train)(tcfg)
        report["train"] = {"best": str(result.best), "loss_curve": str(result.curve_png)}
    val = load_split(out / "data", "val")
    model, meta = model_from_checkpoint(result.best)
    if pose:  # K = 20, eager and file alike: COCO's keypoint evaluation scores 20 per image, and the file's
        set_box_postprocess(model, max_detections=POSE_MAX_DETECTIONS)  # keypoint branch costs per row
        report["max_detections"] = POSE_MAX_DETECTIONS
    with step("eval"):
        eager = TorchDetector(model, meta.class_names, meta.canvas, architecture=meta.architecture,
                              source=str(result.best), pose=meta.pose)
        metrics = evaluate(eager, val)
        report.update(map=metrics["map"], map50=metrics["map50"], per_class=metrics["per_class"])
        say(f"eager mAP {metrics['map']:.3f}  mAP@.5 {metrics['map50']:.3f}")
        if pose:
            report.update(kp_map=metrics["keypoints"]["map"], kp_map50=metrics["keypoints"]["map50"])
            say(f"eager OKS mAP {report['kp_map']:.3f}  OKS mAP@.5 {report['kp_map50']:.3f}")
    onnx_path = out / "model.onnx"
    with step("export"):
        export_onnx(model, meta.model_metadata(), onnx_path, ExportOptions(canvas=meta.canvas, batch=None))
        report["onnx"] = str(onnx_path)
    with step("check"):
        parity = check_parity(onnx_path, eager, parity_images(meta.canvas, photos=True, task=cfg.task), batch=4)
        report["parity"] = {k: v for k, v in parity.summary().items() if k != "per_image"}
        joints = report["parity"].get("joints")
        say(f"parity {'OK' if parity.ok else 'FAILED'}: {report['parity']['matched']} matched, "
            f"{report['parity']['missing']} missing, {report['parity']['extra']} extra"
            + (f"; joints within 1 px: {joints['agree']}/{joints['total']}" if joints else ""))
    with step("onnx_eval"):
        with OnnxDetector(onnx_path) as detector:
            onnx_metrics = evaluate(detector, val)
        report.update(onnx_map=onnx_metrics["map"], onnx_map50=onnx_metrics["map50"])
        say(f"ONNX mAP {onnx_metrics['map']:.3f}  mAP@.5 {onnx_metrics['map50']:.3f}")
        if pose:
            oks = onnx_metrics["keypoints"]
            report.update(onnx_kp_map=oks["map"], onnx_kp_map50=oks["map50"])
            say(f"ONNX OKS mAP {report['onnx_kp_map']:.3f}  OKS mAP@.5 {report['onnx_kp_map50']:.3f}")
    with step("stream"):
        report["stream"] = stream_val_video(onnx_path, out, val, say)
    with step("profile"):
        report["profile"] = profile_val(onnx_path, val, say)
    if not pose:
        with step("cpu_fast"):
            report["cpu_paths"] = fastest_cpu_paths(onnx_path, out, val, say)
            for key in ("int8_map50", "bf16_map50", "int8_bf16_map50"):
                report[key] = report["cpu_paths"][key]
    report["seconds"]["total"] = round(time.perf_counter() - t_all, 2)
    write_json(out / "report.json", report)
    return report


def stream_val_video(onnx_path: Path, out: Path, val, say: Callable[[str], None]) -> dict:
    """Stream the first 90 val images as a video file through the ONNX file (annotated video + JSON Lines)."""
    from edgedet.runtime.engine import Stream, StreamOptions, run_engine
    from edgedet.runtime.images import read_rgb
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.runtime.sinks import JsonlSink, VideoSink
    from edgedet.runtime.sources import VideoFileSource

    video = out / "val_video.avi"
    write_video([read_rgb(r.path) for r in val.images[:90]], video)
    sinks = [VideoSink(out / "stream_annotated.mp4", 30), JsonlSink(out / "stream.jsonl")]
    with OnnxDetector(onnx_path) as detector:
        run = run_engine(detector, [Stream("val", VideoFileSource(str(video)), sinks)], StreamOptions(conf=0.5))
    say(f"stream: {run.frames_processed} frames at {run.fps:.1f} fps, e2e p50 {run.e2e_ms.p50:.1f} ms")
    return {k: v for k, v in run.to_json().items()
            if k in ("frames_in", "frames_processed", "frames_dropped", "fps", "e2e_ms", "stages_ms")}


def profile_val(onnx_path: Path, val, say: Callable[[str], None]) -> dict:
    """Stage latencies of the ONNX file at batch 1 on val images."""
    from edgedet.runtime.images import read_rgb
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.runtime.profiling import profile_stages

    with OnnxDetector(onnx_path) as detector:
        prof = profile_stages(detector, [read_rgb(r.path) for r in val.images[:8]], 1, 50, 5)
    prof.pop("_samples_total_ms")
    say(f"profile: inference p50 {prof['inference_ms']['p50']:.1f} ms, runtime overhead "
        f"{prof['overhead_pct_of_inference']:.1f}% of inference")
    return prof


def fastest_cpu_paths(onnx_path: Path, out: Path, val, say: Callable[[str], None]) -> dict:
    """The CPU edge paths next to fp32: OpenVINO bf16, NNCF INT8 (gated on val mAP@.5) and INT8 with a
    bf16 rest; each path's mAP@.5 on val, and the latencies of all of them from ``edgedet profile`` run
    as a user would (a fresh process: measured here, OpenVINO's reduced-precision runs lost most of
    their lead inside the long-lived demo process, for a reason not pinned down)."""
    import json
    import subprocess
    import sys

    from edgedet.evaluation.coco_eval import evaluate
    from edgedet.export.int8_file import write_int8_model
    from edgedet.runtime.loader import load_detector

    int8 = write_int8_model(onnx_path, out / "data" / "train" / "images", out / "model.int8.onnx", labelled=val,
                            iters=0, say=say)
    maps = {"fp32": int8.gate.reference, "int8": int8.gate.candidate}
    for name, path in (("bf16", onnx_path), ("int8_bf16", int8.path)):
        with load_detector(path, backend="openvino", precision="bf16") as det:
            maps[name] = evaluate(det, val)["map50"]
    profile_json = out / "cpu_paths_profile.json"
    say("timing every path with 'edgedet profile'")
    subprocess.run([sys.executable, "-m", "edgedet.cli.app", "profile", str(onnx_path), str(int8.path),
                    "--backend", "onnxruntime", "--backend", "openvino", "--precision", "fp32", "--precision", "bf16",
                    "--iters", "40", "--images", str(out / "data" / "val" / "images"), "--no-operators",
                    "--report", str(profile_json)], check=True, capture_output=True, text=True)
    results = json.loads(profile_json.read_text())["results"]
    names = {("fp32", "onnxruntime"): "fp32", ("fp32", "openvino"): "ov_fp32", ("bf16", "openvino"): "bf16",
             ("int8", "onnxruntime"): "int8_onnxruntime", ("int8", "openvino"): "int8",
             ("int8+bf16", "openvino"): "int8_bf16"}
    p50 = {names[(r["precision"], r["backend"])]: r["inference_ms"]["p50"] for r in results}
    maps["ov_fp32"] = maps["fp32"]  # OpenVINO f32 is exact against onnxruntime (the parity check)
    rows = [{"path": name, "map50": maps.get(name),  # None: not evaluated (onnxruntime's int8 kernels)
             "inference_p50_ms": ms, "speedup_vs_fp32": round(p50["fp32"] / ms, 3)} for name, ms in p50.items()]
    for r in rows:
        quality = f"mAP@.5 {r['map50']:.3f}" if r["map50"] is not None else "mAP@.5 not evaluated"
        say(f"{r['path']:>16s}: {quality}, inference p50 {r['inference_p50_ms']:.1f} ms "
            f"({r['speedup_vs_fp32']:.2f}x)")
    return {"rows": rows, "int8_file": str(int8.path), "int8_gate": int8.gate.as_dict(),
            "int8_map50": maps["int8"], "bf16_map50": maps["bf16"], "int8_bf16_map50": maps["int8_bf16"],
            "fp32_latency_ms": p50["fp32"], "bf16_latency_ms": p50["bf16"], "int8_latency_ms": p50["int8"],
            "int8_bf16_latency_ms": p50["int8_bf16"], "profile": str(profile_json)}
