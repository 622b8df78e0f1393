"""Fast R-CNN (Girshick 2015), small and honest: one backbone pass per image (our edge backbone up to
stride 16, the paper's conv5), every selective-search RoI max-pooled to 7x7 by RoI Pool on that one
level (``MultiScaleRoIPool``, exported as our ``MultiLevelRoIAlign`` node with ``mode=pool``), two
fully connected layers, and the two sibling heads trained with the multi-task loss (softmax
cross-entropy + smooth-L1 box regression), which is torchvision's ``RoIHeads`` with the proposals
given instead of an RPN's. Training samples 64 RoIs per image, a quarter of them foreground (IoU >=
0.5), as the paper."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from edgedet.architectures.edge import WIDTHS, EdgeBackbone
from edgedet.architectures.roi_pool import MultiScaleRoIPool
from edgedet.eager_detector import canvas_tensor
from edgedet.lineage.method_detector import MethodDetector, ProposalCache, StageClock

STRIDE16_CHANNELS = WIDTHS[3]
POOL = 7
MAX_ROIS = 500  # RoIs per image the exported file takes (rows past an image's proposals are zero boxes)


class Stride16(nn.Module):
    """The edge backbone's stem and first three stages (stride 16) as a one-level feature dict."""

    def __init__(self) -> None:
        super().__init__()
        body = EdgeBackbone()
        self.body = nn.Sequential(OrderedDict(list(body.named_children())[:4]))
        self.out_channels = STRIDE16_CHANNELS

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return OrderedDict([("0", self.body(x))])


class FastRCNN(nn.Module):
    """images (list of [3, H, W] in [0, 1]) + proposals (list of [R, 4]) -> torchvision detections or losses."""

    def __init__(self, num_classes: int, canvas: tuple[int, int]) -> None:
        super().__init__()
        self.transform = GeneralizedRCNNTransform(min(canvas), max(canvas), [0.485, 0.456, 0.406],
                                                  [0.229, 0.224, 0.225])
        self.backbone = Stride16()
        self.roi_heads = RoIHeads(
            box_roi_pool=MultiScaleRoIPool(["0"], POOL, 0),
            box_head=TwoMLPHead(STRIDE16_CHANNELS * POOL * POOL, 512),
            box_predictor=FastRCNNPredictor(512, num_classes),
            fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=64, positive_fraction=0.25,
            bbox_reg_weights=None, score_thresh=0.05, nms_thresh=0.3, detections_per_img=100)

    def load_pretrained(self, body: EdgeBackbone) -> None:
        """The pre-trained CNN's stem and stages 1-3 (the classification task's backbone)."""
        self.backbone.body.load_state_dict({k: v for k, v in body.state_dict().items()
                                            if not k.startswith("stage4.")})

    def forward(self, images: list[Tensor], proposals: list[Tensor], targets: list[dict] | None = None):
        sizes = [tuple(img.shape[-2:]) for img in images]
        image_list, targets = self.transform(images, targets)
        features = self.backbone(image_list.tensors)
        detections, losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        if self.training:
            return losses
        return self.transform.postprocess(detections, image_list.image_sizes, sizes)


def train_fast_rcnn(model: FastRCNN, canvases: list[np.ndarray], gts: list[np.ndarray], labels: list[np.ndarray],
                    proposals: list[np.ndarray], seconds: float, seed: int = 0, batch: int = 4,
                    lr: float = 2e-3) -> dict:
    """Train for ``seconds``: AdamW, cosine-decayed over the budget; proposals are fixed per image (and
    torchvision adds the ground truth to them, as Fast R-CNN's sampling does)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    model.train()
    steps, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for group in optim.param_groups:
            decay = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * elapsed / seconds))
            group["lr"] = lr * min(1.0, (steps + 1) / 50) * decay  # short warmup, then cosine
        idx = rng.integers(0, len(canvases), batch)
        images = [canvas_tensor(canvases[i]) for i in idx]
        props = [torch.from_numpy(proposals[i]).float().reshape(-1, 4) for i in idx]
        targets = [{"boxes": torch.from_numpy(gts[i]).float().reshape(-1, 4),
                    "labels": torch.from_numpy(labels[i]).long()} for i in idx]
        losses = model(images, props, targets)
        loss = losses["loss_classifier"] + losses["loss_box_reg"]
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optim.step()
        steps += 1
    model.eval()
    return {"steps": steps, "seconds": round(time.perf_counter() - t0, 2)}


def fast_rcnn_detector(model: FastRCNN, cache: ProposalCache, class_names, canvas,
                       max_rois: int = MAX_ROIS) -> MethodDetector:
    """The eager Fast R-CNN behind the Detector contract: selective search (cached), then one network pass."""
    model.eval()

    def detect(image: np.ndarray, clock: StageClock):
        props = torch.from_numpy(cache.get(image, clock)[:max_rois]).float().reshape(-1, 4)
        with clock("features"), torch.inference_mode():
            out = model([canvas_tensor(image)], [props])[0]
        return out["boxes"].numpy(), out["scores"].numpy(), out["labels"].numpy()

    return MethodDetector("fast_rcnn", detect, class_names, canvas)
