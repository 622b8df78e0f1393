"""Training across processes (``torchrun``) that does not depend on how many processes there are.

Under ``torchrun`` a step's gradients are the same whether its images are spread over one process or
several (within float tolerance), because nothing random or batch-statistical depends on the split:

* the data order comes from a ``DistributedSampler`` (also with one process): rank r takes every
  world-th image of one shared permutation, so the union of a step's per-rank batches is the
  one-process batch;
* the RPN's and the RoI head's positive/negative sampling draws from a generator seeded per image
  (run seed, step, position in the global batch) instead of the process's global stream
  (``SeededSampler``);
* gradients are averaged by DDP, and each rank's losses are means over its images, so the average is
  the one-process mean;
* BatchNorm is the one thing left: its batch statistics depend on the per-process batch and PyTorch's
  ``SyncBatchNorm`` needs GPUs, so ``frozen_bn`` swaps it for ``FrozenBatchNorm2d`` where exact
  invariance matters (the test uses it; multi-GPU training can keep per-GPU BatchNorm).
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
from torchvision.ops.misc import FrozenBatchNorm2d


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


class SeededSampler(BalancedPositiveNegativeSampler):
    """torchvision's balanced sampler, drawing each image's sample from its own seeded generator
    (``seeds``, one per image of the call, set before each forward); falls back to the global stream
    when no seeds are set."""

    def __init__(self, batch_size_per_image: int, positive_fraction: float) -> None:
        super().__init__(batch_size_per_image, positive_fraction)
        self.seeds: list[int] | None = None

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        if self.seeds is None or len(self.seeds) != len(matched_idxs):
            return super().__call__(matched_idxs)
        pos_idx, neg_idx = [], []
        for matched, seed in zip(matched_idxs, self.seeds):
            gen = torch.Generator(device=matched.device).manual_seed(seed)
            positive = torch.where(matched >= 1)[0]
            negative = torch.where(matched == 0)[0]
            num_pos = min(positive.numel(), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            pos = positive[torch.randperm(positive.numel(), generator=gen, device=matched.device)[:num_pos]]
            neg = negative[torch.randperm(negative.numel(), generator=gen, device=matched.device)[:num_neg]]
            pos_mask = torch.zeros_like(matched, dtype=torch.uint8)
            neg_mask = torch.zeros_like(matched, dtype=torch.uint8)
            pos_mask[pos] = 1
            neg_mask[neg] = 1
            pos_idx.append(pos_mask)
            neg_idx.append(neg_mask)
        return pos_idx, neg_idx


def seeded_samplers(model: nn.Module) -> list[SeededSampler]:
    """Replace the RPN's and the RoI head's samplers by ``SeededSampler``s (same sizes)."""
    samplers = []
    for owner in (model.rpn, model.roi_heads):
        old = owner.fg_bg_sampler
        owner.fg_bg_sampler = SeededSampler(old.batch_size_per_image, old.positive_fraction)
        samplers.append(owner.fg_bg_sampler)
    return samplers


def image_seeds(seed: int, step: int, rank: int, world: int, count: int) -> list[int]:
    """One seed per image of this rank's batch, from its position in the global batch: with the
    DistributedSampler's striding, rank r's i-th image is global image i * world + r."""
    return [(seed * 1_000_003 + step) * 10_007 + i * world + rank for i in range(count)]


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Every ``BatchNorm2d`` becomes a ``FrozenBatchNorm2d`` with its statistics and affine terms."""
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(model, name, frozen)
        else:
            freeze_batchnorm(child)
    return model
