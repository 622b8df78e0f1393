"""Faster R-CNN rows of the lineage: the demo's architecture trained by the project's own trainer
within a time budget (its step count measured, not guessed), with RoI Align or RoI Pool, from scratch
or from the crop-pretrained backbone (frozen, then unfrozen: the staged fine-tuning of the lecture);
and its RPN's proposals, for recall against selective search at equal counts."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgedet.architectures import set_proposal_budget
from edgedet.eager_detector import canvas_tensor
from edgedet.training.config import TrainConfig
from edgedet.training.trainer import TrainResult, train

ARCH = "fasterrcnn_edge_fpn"


def seconds_per_step(data: str, canvas: tuple[int, int], batch: int, probe_steps: int = 6) -> float:
    """One training step's time here, from a short throwaway run (its first two steps not counted)."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        train(TrainConfig(data=data, out=tmp, arch=ARCH, canvas=canvas, batch_size=batch, epochs=1000,
                          max_steps=probe_steps, eval_every=-1, warmup_steps=1),
              on_step=lambda row: stamps.append(time.perf_counter()))
    return (stamps[-1] - stamps[1]) / max(1, len(stamps) - 2)


def train_for(data: str, out: Path, canvas: tuple[int, int], steps: int, batch: int = 4, seed: int = 0,
              **overrides) -> TrainResult:
    """Train ``steps`` optimiser steps (warmup a tenth of them, cosine decay over all)."""
    cfg = TrainConfig(data=data, out=str(out), arch=ARCH, canvas=canvas, batch_size=batch, epochs=100000,
                      max_steps=max(1, steps), eval_every=-1, warmup_steps=max(1, steps // 10), seed=seed,
                      **overrides)
    return train(cfg)


@torch.inference_mode()
def rpn_proposals(model: torch.nn.Module, canvases: list[np.ndarray], count: int = 2000) -> list[np.ndarray]:
    """The RPN's post-NMS proposals of each canvas, best first, up to ``count`` (in canvas pixels); the
    model's own proposal budget is restored afterwards (its detections are evaluated at that one)."""
    model.eval()
    rpn = model.rpn
    kept = dict(rpn._pre_nms_top_n), dict(rpn._post_nms_top_n)
    set_proposal_budget(model, count)
    out = []
    try:
        for canvas in canvases:
            images, _ = model.transform([canvas_tensor(canvas)])
            features = model.backbone(images.tensors)
            proposals, _ = rpn(images, features)
            out.append(proposals[0].numpy())
    finally:
        rpn._pre_nms_top_n, rpn._post_nms_top_n = kept
    return out
