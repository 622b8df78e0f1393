"""``edgedet demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.data_cmd import Task
from edgedet.cli.options import JsonOut


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for data, run, model and report."),
    images: int = typer.Option(1200, "--count", min=20, help="Synthetic images (train + val)."),
    epochs: int | None = typer.Option(None, min=1, help="Training epochs (default: 6 for detection, 4 for "
                                      "keypoints; either demo takes a few minutes on a 2-core CPU)."),
    seed: int = typer.Option(0, help="Random seed: the same seed, the same data, model and figures."),
    task: Task = typer.Option(Task.detection, help="detection: shapes and Faster R-CNN; keypoints: stick figures "
                              "and Keypoint R-CNN (OKS mAP, joints in the file, skeletons in the video)."),
    json_out: JsonOut = False,
) -> None:
    """The whole path on a CPU in minutes: synthetic data -> train -> eval -> export -> check -> stream -> profile.

    Examples:
      edgedet demo --out runs/demo
      edgedet demo --task keypoints --out runs/pose
    """
    from edgedet.cli.demo import DemoConfig, run_demo
    from edgedet.cli.train_cmd import run_with_progress
    from edgedet.training.trainer import train

    cfg = DemoConfig(out=out, images=images, epochs=epochs or (4 if task is Task.keypoints else 6), seed=seed,
                     task=task.value)
    report = run_demo(cfg, say=lambda s: console.print(f"[bold cyan]{s}"),
                      train_runner=lambda c: run_with_progress(c, train))
    secs = report["seconds"]
    metric, eager_key, onnx_key = ("OKS mAP@.5", "kp_map50", "onnx_kp_map50") if task is Task.keypoints else (
        "mAP@.5", "map50", "onnx_map50")
    console.print(f"[bold]demo done in {secs['total']:.0f}s[/]: {metric} {report[eager_key]:.3f} (eager), "
                  f"{report[onnx_key]:.3f} (ONNX); parity {'OK' if report['parity']['ok'] else 'FAILED'}; "
                  f"report: {out / 'report.json'}")
    if json_out:
        emit_json(report)
