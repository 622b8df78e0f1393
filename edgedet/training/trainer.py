"""The training loop: the four Faster R-CNN losses, AdamW/SGD with warmup + cosine decay,
periodic checkpoints, resume, backbone freezing and DistributedDataParallel under torchrun.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from edgedet.architectures import build_model, get_arch
from edgedet.checkpoints import load_backbone, load_checkpoint, load_into, make_meta, save_checkpoint
from edgedet.data.coco import load_split
from edgedet.eager_detector import TorchDetector
from edgedet.evaluation.coco_eval import evaluate
from edgedet.training.curves import LOSS_NAMES, MetricsLog, plot_losses
from edgedet.training.dataset import DetectionDataset, collate
from runtime.errors import EdgedetError


@dataclass
class TrainConfig:
    data: str
    out: str
    arch: str = "fasterrcnn_edge_fpn"
    epochs: int = 10
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    warmup_steps: int = 100
    canvas: tuple[int, int] | None = None
    weights: str | None = None
    backbone_weights: str | None = None
    trainable_layers: int | None = None
    augment: bool = True
    resume: bool = False
    eval_every: int = 1  # evaluate every N epochs and after the last; 0 = after the last only; -1 = never
    seed: int = 0
    workers: int = 0
    device: str = "cpu"
    max_steps: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    best: Path
    last: Path
    metrics_csv: Path
    curve_png: Path
    best_map50: float
    history: list[dict]
    seconds: float


def freeze_backbone(model: nn.Module, trainable_layers: int) -> None:
    """Freeze all but the last ``trainable_layers`` stages of ``backbone.body`` (torchvision's
    ``trainable_backbone_layers``), counting the body's children from the output end."""
    stages = list(model.backbone.body.children())
    if not 0 <= trainable_layers <= len(stages):
        raise EdgedetError(f"--trainable-layers must be between 0 and {len(stages)} for this backbone")
    for stage in stages[: len(stages) - trainable_layers]:
        for p in stage.parameters():
            p.requires_grad_(False)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return 0.001 + (1 - 0.001) * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank() if world > 1 else 0), world


def train(cfg: TrainConfig, on_step: Callable[[dict], None] | None = None,
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    t0 = time.perf_counter()
    rank, world = _distributed()
    if world > 1 and torch.cuda.is_available():
        cfg.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    torch.manual_seed(cfg.seed + rank)
    train_data = load_split(cfg.data, "train")
    val_data = load_split(cfg.data, "val")
    if train_data.class_names != val_data.class_names:
        raise EdgedetError("train and val annotation files list different categories")
    spec = get_arch(cfg.arch)
    canvas = tuple(cfg.canvas or spec.canvas)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    model = build_model(cfg.arch, train_data.num_classes, canvas)
    if cfg.backbone_weights:
        load_backbone(model, cfg.backbone_weights)
    if cfg.weights:
        load_into(model, cfg.weights, cfg.arch)
    if cfg.trainable_layers is not None:
        freeze_backbone(model, cfg.trainable_layers)
    model.to(cfg.device)

    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        optim = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adamw":
        optim = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        raise EdgedetError(f"unknown optimizer '{cfg.optimizer}': choose adamw or sgd")

    dataset = DetectionDataset(train_data, canvas, augment=cfg.augment, seed=cfg.seed + rank)
    sampler = DistributedSampler(dataset, world, rank, seed=cfg.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(dataset, cfg.batch_size, shuffle=sampler is None, sampler=sampler, collate_fn=collate,
                        num_workers=cfg.workers, drop_last=len(dataset) > cfg.batch_size, generator=generator)
    steps_per_epoch = len(loader)
    total_steps = cfg.max_steps or steps_per_epoch * cfg.epochs
    meta = make_meta(cfg.arch, train_data.class_names, canvas,
                     {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()})

    start_epoch, step, best_map50, history = 0, 0, -1.0, []
    last_path, best_path = out / "last.pt", out / "best.pt"
    if cfg.resume:
        if not last_path.exists():
            raise EdgedetError(f"--resume: no '{last_path}' to resume from")
        state = load_checkpoint(last_path)
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optimizer"])
        start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
        best_map50, history = float(state["best_map50"]), list(state["history"])

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[cfg.device] if "cuda" in cfg.device else None)

    log = MetricsLog(out / "metrics.csv", resume=cfg.resume) if rank == 0 else None
    for epoch in range(start_epoch, cfg.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        for images, targets in loader:
            if step >= total_steps:
                break
            factor = _lr_factor(step, total_steps, cfg.warmup_steps)
            for group in optim.param_groups:
                group["lr"] = cfg.lr * factor
            images = [i.to(cfg.device) for i in images]
            targets = [{k: v.to(cfg.device) for k, v in t.items()} for t in targets]
            losses = net(images, targets)
            total = sum(losses[k] for k in LOSS_NAMES)
            if not torch.isfinite(total):
                raise EdgedetError(f"training diverged at step {step} (loss {float(total)}): lower --lr")
            optim.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optim.step()
            row = {"step": step, "epoch": epoch, "lr": cfg.lr * factor, "loss": float(total.detach()),
                   **{k: float(losses[k].detach()) for k in LOSS_NAMES}}
            if log:
                log.log(row)
            if on_step:
                on_step(row)
            step += 1
        if rank == 0:
            record = {"epoch": epoch, "step": step}
            last_epoch = epoch == cfg.epochs - 1 or step >= total_steps
            if cfg.eval_every >= 0 and (last_epoch or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)):
                detector = TorchDetector(model, train_data.class_names, canvas, device=cfg.device)
                metrics = evaluate(detector, val_data)
                record.update(map=metrics["map"], map50=metrics["map50"])
                if metrics["map50"] > best_map50:
                    best_map50 = metrics["map50"]
                    save_checkpoint(best_path, model, meta)
            history.append(record)
            save_checkpoint(last_path, model, meta, optimizer=optim.state_dict(), epoch=epoch, step=step,
                            best_map50=best_map50, history=history)
            if best_map50 < 0:  # nothing evaluated yet: the newest weights are the best we know
                save_checkpoint(best_path, model, meta)
            if on_epoch:
                on_epoch(record)
        if step >= total_steps:
            break
    if log:
        log.close()
        plot_losses(out / "metrics.csv", out / "loss_curve.png")
    return TrainResult(best_path, last_path, out / "metrics.csv", out / "loss_curve.png", best_map50, history,
                       time.perf_counter() - t0)
