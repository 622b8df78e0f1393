"""The lineage's CNN: our edge backbone (``EdgeBackbone``, the body of ``fasterrcnn_edge_fpn``) with
global average pooling and two heads, a softmax classifier and a box regressor. Trained on warped
object crops it is the single-object classifier + localiser; its body is then the pre-trained
backbone of R-CNN's features and of the Faster R-CNN fine-tuned from it (same module names, so
``checkpoints.load_backbone`` loads it)."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgedet.architectures.edge import WIDTHS, EdgeBackbone
from edgedet.lineage.crops import CropSet

# torchvision's detection transform normalises with ImageNet's statistics: pre-train on the same input
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def crop_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> normalised float [N, 3, S, S]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - MEAN) / STD


class CropNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.body = EdgeBackbone()
        self.classifier = nn.Linear(WIDTHS[-1], num_classes)
        self.box = nn.Linear(WIDTHS[-1], 4)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.classifier(f), self.box(f)

    @torch.inference_mode()
    def embed(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """[N, 160] features of uint8 crops (the 'pool5' of our R-CNN)."""
        self.eval()
        out = [self.features(crop_tensor(images[i:i + batch])) for i in range(0, len(images), batch)]
        return torch.cat(out).numpy() if out else np.zeros((0, WIDTHS[-1]), np.float32)


def train_cropnet(crops: CropSet, num_classes: int, seconds: float, with_box: bool = True, seed: int = 0,
                  batch: int = 64, lr: float = 3e-3) -> tuple[CropNet, dict]:
    """Train for ``seconds`` (the step count is what fits): cross-entropy, plus smooth-L1 on the boxes of
    object crops when ``with_box`` (the single-object multi-task loss). Flips augment."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = CropNet(num_classes)
    optim = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    net.train()
    steps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for group in optim.param_groups:  # cosine decay over the time budget
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * elapsed / seconds)))
        idx = rng.integers(0, len(crops), batch)
        images, labels, targets = crops.images[idx], crops.labels[idx], crops.targets[idx].copy()
        if rng.random() < 0.5:  # horizontal flip, boxes mirrored
            images = images[:, :, ::-1]
            targets[:, [0, 2]] = 1.0 - targets[:, [2, 0]]
        logits, boxes = net(crop_tensor(images))
        y = torch.from_numpy(labels)
        loss = F.cross_entropy(logits, y)
        fg = y > 0
        if with_box and fg.any():
            loss = loss + F.smooth_l1_loss(boxes[fg], torch.from_numpy(targets)[fg], beta=1 / 9) * 4.0
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        steps += 1
    net.eval()
    return net, {"steps": steps, "seconds": round(time.perf_counter() - t0, 2)}
