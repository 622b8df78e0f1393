"""What a training run is asked to do (torch-free, so the CLI can describe its choices cheaply)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Optimizer(str, Enum):
    adamw = "adamw"
    sgd = "sgd"


@dataclass
class TrainConfig:
    data: str
    out: str
    arch: str = "fasterrcnn_edge_fpn"
    epochs: int = 10
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    optimizer: Optimizer = Optimizer.adamw
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
    roi_mode: str = "align"  # "pool": the box head pools with RoI Pool (the lineage's RoI Align vs RoI Pool row)
    frozen_bn: bool = False  # BatchNorm with fixed statistics: gradients independent of the per-process batch
