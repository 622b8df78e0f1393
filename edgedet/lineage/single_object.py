"""Classification + localisation of one object: the task before detection. One warped crop per object
(and background crops), a CNN with a softmax head and a box head trained with the multi-task loss
(cross-entropy + smooth-L1); reported as classification accuracy and the mean IoU of the predicted box
with the object's. The trained CNN is the lineage's pre-trained backbone."""

from __future__ import annotations

import time

import numpy as np
import torch

from edgedet.data.coco import CocoData
from edgedet.lineage.cropnet import CropNet, crop_tensor, train_cropnet
from edgedet.lineage.crops import object_crops
from edgedet.runtime.agreement import box_iou


@torch.inference_mode()
def score_crops(net: CropNet, images: np.ndarray, labels: np.ndarray, targets: np.ndarray) -> dict:
    logits, boxes = [], []
    for i in range(0, len(images), 256):
        lg, bx = net(crop_tensor(images[i:i + 256]))
        logits.append(lg)
        boxes.append(bx)
    pred = torch.cat(logits).argmax(1).numpy()
    boxes_np = torch.cat(boxes).numpy()
    fg = labels > 0
    ious = np.array([box_iou(boxes_np[i:i + 1], targets[i:i + 1])[0, 0] for i in np.nonzero(fg)[0]])
    return {"accuracy": float((pred == labels).mean()), "object_accuracy": float((pred[fg] == labels[fg]).mean()),
            "mean_iou": float(ious.mean()) if len(ious) else 0.0}


def run_single_object(train: CocoData, val: CocoData, seconds: float, seed: int = 0) -> tuple[dict, CropNet]:
    """The lineage row of the single-object task, and the trained CNN (the pre-trained backbone)."""
    t0 = time.perf_counter()
    crops = object_crops(train, seed)
    net, info = train_cropnet(crops, train.num_classes, seconds, with_box=True, seed=seed)
    val_crops = object_crops(val, seed + 1, jitter=0.1)
    t1 = time.perf_counter()
    scores = score_crops(net, val_crops.images, val_crops.labels, val_crops.targets)
    per_crop = (time.perf_counter() - t1) / max(1, len(val_crops))
    row = {"method": "single_object", "map": None, "map50": None, "train_s": round(time.perf_counter() - t0, 1),
           "params": sum(p.numel() for p in net.parameters()), "s_per_image": None, "s_per_crop": per_crop,
           "crops_train": len(crops), "crops_val": len(val_crops), "train_steps": info["steps"], **scores,
           "note": "one object per crop: accuracy and box IoU, not a detector (no mAP)"}
    return row, net
