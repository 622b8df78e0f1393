"""The training loop: the four Faster R-CNN losses (five for a Keypoint R-CNN), AdamW/SGD with warmup + cosine decay,
per-epoch checkpoints, resume, backbone freezing and DistributedDataParallel under torchrun.

``train`` is assembled from small build steps (data, model, optimiser, loader, resume state),
and a ``TrainPlan`` states the true number of steps before the first one runs: the loader
drops the last partial batch, so a progress bar sized from the plan ends exactly at 100 %.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from edgedet.architectures import build_model, get_arch
from edgedet.checkpoints import CheckpointMeta, load_backbone, load_checkpoint, load_into, save_checkpoint
from edgedet.data.coco import CocoData, load_split
from edgedet.eager_detector import TorchDetector
from edgedet.evaluation.coco_eval import evaluate
from edgedet.runtime.errors import EdgedetError
from edgedet.training.config import Optimizer, TrainConfig
from edgedet.training.curves import MetricsLog, plot_losses
from edgedet.training.dataset import DetectionDataset, collate
from edgedet.training.distributed import (
    SeededSampler,
    freeze_batchnorm,
    image_seeds,
    launched_by_torchrun,
    seeded_samplers,
)


@dataclass(frozen=True)
class TrainPlan:
    """The run's size, known before the first step."""

    steps_per_epoch: int
    epochs: int
    total_steps: int
    start_step: int = 0
    start_epoch: int = 0


@dataclass
class TrainResult:
    best: Path
    last: Path
    metrics_csv: Path
    curve_png: Path
    best_map50: float
    history: list[dict]
    seconds: float


@dataclass
class _Progress:
    epoch: int = 0
    step: int = 0
    best_map50: float = -1.0
    history: list[dict] = field(default_factory=list)


def freeze_backbone(model: nn.Module, trainable_layers: int) -> None:
    """Freeze all but the last ``trainable_layers`` stages of ``backbone.body`` (torchvision's
    ``trainable_backbone_layers``), counting the body's children from the output end."""
    stages = list(model.backbone.body.children())
    if not 0 <= trainable_layers <= len(stages):
        raise EdgedetError(f"trainable layers must be between 0 and {len(stages)} for this backbone, "
                           f"got {trainable_layers}")
    for stage in stages[: len(stages) - trainable_layers]:
        for p in stage.parameters():
            p.requires_grad_(False)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup from 0.1 % to 100 %, then cosine decay to 2 %."""
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


# -- build steps ------------------------------------------------------------------------------
def load_data(cfg: TrainConfig) -> tuple[CocoData, CocoData]:
    train_data, val_data = load_split(cfg.data, "train"), load_split(cfg.data, "val")
    if train_data.class_names != val_data.class_names:
        raise EdgedetError("train and val annotation files list different categories")
    return train_data, val_data


def check_task(arch: str, data: CocoData) -> dict:
    """A Keypoint R-CNN needs a keypoints data set and the other way round; returns what
    ``build_model`` needs for the data (the number of joints)."""
    pose_arch = bool(get_arch(arch).keypoints)
    if pose_arch and not data.keypoint_names:
        raise EdgedetError(f"'{arch}' is a Keypoint R-CNN but '{data.annotation_file}' has no keypoints: train it on "
                           "COCO keypoints (a data set whose categories name their keypoints)")
    if data.keypoint_names and not pose_arch:
        raise EdgedetError(f"'{data.annotation_file}' has keypoints but '{arch}' detects boxes only: use "
                           "a Keypoint R-CNN (keypointrcnn_edge_fpn or keypointrcnn_resnet50_fpn)")
    return {"num_keypoints": len(data.keypoint_names)} if pose_arch else {}


def build_training_model(cfg: TrainConfig, num_classes: int, canvas: tuple[int, int], **build: int) -> nn.Module:
    model = build_model(cfg.arch, num_classes, canvas, roi_mode=cfg.roi_mode, **build)
    if cfg.backbone_weights:
        load_backbone(model, cfg.backbone_weights)
    if cfg.weights:
        load_into(model, cfg.weights, cfg.arch)
    if cfg.trainable_layers is not None:
        freeze_backbone(model, cfg.trainable_layers)
    if cfg.frozen_bn:
        freeze_batchnorm(model)
    return model.to(cfg.device)


def build_optimizer(cfg: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if Optimizer(cfg.optimizer) is Optimizer.sgd:
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_loader(cfg: TrainConfig, data: CocoData, canvas: tuple[int, int], rank: int,
                 world: int) -> tuple[DataLoader, DistributedSampler | None]:
    dataset = DetectionDataset(data, canvas, augment=cfg.augment, seed=cfg.seed + rank)
    # under torchrun always (one process too): the data order then does not depend on the process count
    sampler = DistributedSampler(dataset, world, rank, seed=cfg.seed) if world > 1 or launched_by_torchrun() else None
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(dataset, cfg.batch_size, shuffle=sampler is None, sampler=sampler, collate_fn=collate,
                        num_workers=cfg.workers, drop_last=len(dataset) > cfg.batch_size, generator=generator)
    return loader, sampler


def plan_training(cfg: TrainConfig, loader: DataLoader, progress: _Progress) -> TrainPlan:
    steps_per_epoch = len(loader)  # what the sampler really yields (drop_last counted)
    total = min(cfg.max_steps or steps_per_epoch * cfg.epochs, steps_per_epoch * cfg.epochs)
    return TrainPlan(steps_per_epoch, cfg.epochs, total, progress.step, progress.epoch)


def resume_state(cfg: TrainConfig, model: nn.Module, optim: torch.optim.Optimizer, last_path: Path) -> _Progress:
    if not cfg.resume:
        return _Progress()
    if not last_path.exists():
        raise EdgedetError(f"cannot resume: no '{last_path}' to resume from")
    state, _ = load_checkpoint(last_path)
    model.load_state_dict(state["model"])
    optim.load_state_dict(state["optimizer"])
    return _Progress(int(state["epoch"]) + 1, int(state["step"]), float(state["best_map50"]),
                     list(state["history"]))


# -- the loop -----------------------------------------------------------------------------------
def _train_step(net: nn.Module, optim: torch.optim.Optimizer, params: list, images, targets, cfg: TrainConfig,
                step: int, total: int, samplers: list[SeededSampler] = (), rank: int = 0, world: int = 1) -> dict:
    factor = lr_factor(step, total, cfg.warmup_steps)
    for sampler in samplers:
        sampler.seeds = image_seeds(cfg.seed, step, rank, world, len(images))
    for group in optim.param_groups:
        group["lr"] = cfg.lr * factor
    images = [i.to(cfg.device) for i in images]
    targets = [{k: v.to(cfg.device) for k, v in t.items()} for t in targets]
    losses = net(images, targets)  # the four Faster R-CNN losses, plus loss_keypoint for a Keypoint R-CNN
    loss = sum(losses.values())
    if not torch.isfinite(loss):
        raise EdgedetError(f"training diverged at step {step} (loss {float(loss)}): lower the learning rate")
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 10.0)
    optim.step()
    return {"step": step, "lr": cfg.lr * factor, "loss": float(loss.detach()),
            **{k: float(v.detach()) for k, v in losses.items()}}


def train(cfg: TrainConfig, on_step: Callable[[dict], None] | None = None,
          on_epoch: Callable[[dict], None] | None = None,
          on_plan: Callable[[TrainPlan], None] | None = None) -> TrainResult:
    t0 = time.perf_counter()
    rank, world = _distributed()
    if world > 1 and torch.cuda.is_available():
        cfg.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    torch.manual_seed(cfg.seed + rank)
    train_data, val_data = load_data(cfg)
    canvas = tuple(cfg.canvas or get_arch(cfg.arch).canvas)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / "last.pt", out / "best.pt"

    model = build_training_model(cfg, train_data.num_classes, canvas, **check_task(cfg.arch, train_data))
    samplers = seeded_samplers(model) if launched_by_torchrun() else []
    params = [p for p in model.parameters() if p.requires_grad]
    optim = build_optimizer(cfg, params)
    loader, sampler = build_loader(cfg, train_data, canvas, rank, world)
    progress = resume_state(cfg, model, optim, last_path)
    plan = plan_training(cfg, loader, progress)
    if on_plan:
        on_plan(plan)
    meta = CheckpointMeta(cfg.arch, train_data.class_names, canvas, keypoint_names=train_data.keypoint_names,
                          skeleton=train_data.skeleton, roi_mode=cfg.roi_mode,
                          train={k: (list(v) if isinstance(v, tuple) else v.value if isinstance(v, Enum) else v)
                                 for k, v in asdict(cfg).items()})
    net = nn.parallel.DistributedDataParallel(
        model, device_ids=[cfg.device] if "cuda" in cfg.device else None) if world > 1 else model

    log = MetricsLog(out / "metrics.csv", resume=cfg.resume, keypoints=bool(meta.keypoint_names)) if rank == 0 else None
    step = progress.step
    for epoch in range(progress.epoch, cfg.epochs):
        if step >= plan.total_steps:
            break
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        for images, targets in loader:
            if step >= plan.total_steps:
                break
            row = {"epoch": epoch, **_train_step(net, optim, params, images, targets, cfg, step, plan.total_steps,
                                                         samplers, rank, world)}
            if log:
                log.log(row)
            if on_step:
                on_step(row)
            step += 1
        if rank == 0:
            _end_epoch(cfg, model, meta, optim, progress, epoch, step, plan, train_data, val_data, canvas,
                       best_path, last_path, on_epoch)
    if log:
        log.close()
        plot_losses(out / "metrics.csv", out / "loss_curve.png")
    return TrainResult(best_path, last_path, out / "metrics.csv", out / "loss_curve.png", progress.best_map50,
                       progress.history, time.perf_counter() - t0)


def _end_epoch(cfg: TrainConfig, model: nn.Module, meta: CheckpointMeta, optim: torch.optim.Optimizer,
               progress: _Progress, epoch: int, step: int, plan: TrainPlan, train_data: CocoData,
               val_data: CocoData, canvas: tuple[int, int], best_path: Path, last_path: Path,
               on_epoch: Callable[[dict], None] | None) -> None:
    """Evaluate when due, then write ``best.pt`` and ``last.pt``."""
    record: dict = {"epoch": epoch, "step": step}
    last_epoch = epoch == cfg.epochs - 1 or step >= plan.total_steps
    if cfg.eval_every >= 0 and (last_epoch or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)):
        metrics = evaluate(TorchDetector(model, train_data.class_names, canvas, device=cfg.device,
                                         pose=meta.pose), val_data)
        record.update(map=metrics["map"], map50=metrics["map50"])
        if "keypoints" in metrics:  # a pose model is judged (and its best.pt chosen) by OKS
            record.update(kp_map=metrics["keypoints"]["map"], kp_map50=metrics["keypoints"]["map50"])
        score = record.get("kp_map50", record["map50"])
        if score > progress.best_map50:
            progress.best_map50 = score
            save_checkpoint(best_path, model, meta)
    progress.history.append(record)
    save_checkpoint(last_path, model, meta, optimizer=optim.state_dict(), epoch=epoch, step=step,
                    best_map50=progress.best_map50, history=progress.history)
    if progress.best_map50 < 0:  # nothing evaluated yet: the newest weights are the best we know
        save_checkpoint(best_path, model, meta)
    if on_epoch:
        on_epoch(record)
