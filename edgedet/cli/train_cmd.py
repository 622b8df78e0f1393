"""``edgedet train``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar
from edgedet.cli.options import Canvas, JsonOut, RoIMode, parse_canvas
from edgedet.training.config import Optimizer


def train(
    data: Path = typer.Option(..., "--data", "-d", help="Data folder with train/ and val/ (COCO format)."),
    arch: str = typer.Option("fasterrcnn_edge_fpn", help="Architecture (see 'edgedet info --archs')."),
    epochs: int = typer.Option(10, "--epochs", "-e", min=1, help="Passes over the training images."),
    out: Path = typer.Option(Path("runs/train"), "--out", "-o", help="Run folder: best.pt, last.pt, metrics.csv."),
    batch_size: int = typer.Option(4, "--batch", "-b", min=1, help="Images per training step."),
    lr: float = typer.Option(2e-3, help="Peak learning rate (after warmup, cosine-decayed)."),
    optimizer: Optimizer = typer.Option(Optimizer.adamw, help="The optimiser."),
    imgsz: Canvas = None,
    weights: Path | None = typer.Option(None, help="Start from a checkpoint or torchvision state dict (head "
                                           "re-initialised if the class count differs)."),
    backbone_weights: Path | None = typer.Option(None, help="ImageNet classification weights for the backbone."),
    trainable_layers: int | None = typer.Option(None, min=0,
                                                   help="Train only the last N backbone stages (freeze the rest)."),
    augment: bool = typer.Option(True, "--augment/--no-augment", metavar="", help="Flip and scale jitter."),
    resume: bool = typer.Option(False, "--resume/--no-resume", metavar="",
                                help="Continue from OUT/last.pt (model, optimiser, schedule)."),
    eval_every: int = typer.Option(1, min=-1,
                                   help="Evaluate every N epochs and after the last (0: last only, -1: never)."),
    seed: int = typer.Option(0, help="Random seed: the same seed, the same run."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Stop after N optimiser steps."),
    roi_mode: RoIMode = typer.Option(RoIMode.align, help="The box head's pooling: RoI Align (Faster R-CNN) or RoI "
                                     "Pool (Fast R-CNN's; exported as our node with mode=pool)."),
    frozen_bn: bool = typer.Option(False, "--frozen-bn/--no-frozen-bn", metavar="",
                                   help="Freeze BatchNorm statistics (CPU torchrun: a "
                                   "step then does not depend on how its batch is split over processes)."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    json_out: JsonOut = False,
) -> None:
    """Train a Faster R-CNN (four losses per step) or a Keypoint R-CNN (five) on COCO-format data.

    Examples:
      edgedet train --data data/shapes --epochs 5 --out runs/shapes
      edgedet train --data coco/ --arch fasterrcnn_resnet50_fpn --weights coco.pth --trainable-layers 3
      edgedet train --data data/figures --arch keypointrcnn_edge_fpn --epochs 6  # pose: data synth --task keypoints
      torchrun --nproc-per-node 4 -m edgedet.cli.app train --data coco/ --device cuda  # multi-GPU, DDP
      torchrun --nproc-per-node 2 -m edgedet.cli.app train --data data/shapes --frozen-bn  # CPU, gloo
    """
    from edgedet.training.trainer import TrainConfig
    from edgedet.training.trainer import train as run_training

    if weights and resume:
        raise typer.BadParameter("--resume continues OUT/last.pt; it cannot start from --weights too",
                                 param_hint="'--resume'")
    cfg = TrainConfig(data=str(data), out=str(out), arch=arch, epochs=epochs, batch_size=batch_size, lr=lr,
                      optimizer=optimizer, canvas=parse_canvas(imgsz), weights=str(weights) if weights else None,
                      backbone_weights=str(backbone_weights) if backbone_weights else None,
                      trainable_layers=trainable_layers, augment=augment, resume=resume,
                      eval_every=eval_every, seed=seed, device=device, max_steps=max_steps, frozen_bn=frozen_bn,
                      roi_mode=roi_mode.value)
    result = run_with_progress(cfg, run_training)
    metric = "OKS mAP@.5" if any("kp_map50" in r for r in result.history) else "mAP@.5"
    console.print(f"best {metric} {result.best_map50:.3f}; wrote {result.best}, {result.last}, {result.metrics_csv}, "
                  f"{result.curve_png} in {result.seconds:.0f}s")
    if json_out:
        emit_json({"best": result.best, "last": result.last, "best_map50": result.best_map50,
                   "history": result.history, "seconds": result.seconds})


def run_with_progress(cfg, run_training):
    """Run training under a rich progress bar showing the four losses; its size is the trainer's plan."""
    from edgedet.architectures import get_arch

    get_arch(cfg.arch)  # fail on a bad name before drawing anything
    with progress_bar(transient=True) as bar:
        task = bar.add_task("training", total=None, status="preparing")

        def on_plan(plan) -> None:
            bar.update(task, total=plan.total_steps, completed=plan.start_step)

        def on_step(row: dict) -> None:
            kp = f" kp {row['loss_keypoint']:.3f}" if "loss_keypoint" in row else ""
            bar.update(task, advance=1, status=(
                f"ep {row['epoch']} loss {row['loss']:.3f} obj {row['loss_objectness']:.3f} "
                f"rpn {row['loss_rpn_box_reg']:.3f} cls {row['loss_classifier']:.3f} "
                f"box {row['loss_box_reg']:.3f}{kp}"))

        def on_epoch(record: dict) -> None:
            if "map50" in record:
                oks = (f"  OKS mAP {record['kp_map']:.3f}  OKS mAP@.5 {record['kp_map50']:.3f}"
                       if "kp_map" in record else "")
                console.print(f"epoch {record['epoch']}: mAP {record['map']:.3f}  mAP@.5 {record['map50']:.3f}{oks}")

        return run_training(cfg, on_step=on_step, on_epoch=on_epoch, on_plan=on_plan)
