"""Training samples: each image letterboxed into the canvas, as the runtime will see it.

Augmentation is horizontal flip and scale jitter around the letterbox scale; boxes that
end up mostly outside the canvas are dropped. A keypoints data set's joints follow their boxes
(scaled, mirrored with ``left_*``/``right_*`` swapped on a flip); a joint pushed off the canvas
becomes unlabelled (v = 0), as torchvision's loss then ignores it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from edgedet.data.coco import CocoData
from edgedet.data.keypoint_names import flip_permutation
from edgedet.runtime.images import read_rgb
from edgedet.runtime.letterbox import DEFAULT_FILL
from edgedet.runtime.letterbox import letterbox as _letterbox


class DetectionDataset(Dataset):
    def __init__(self, data: CocoData, canvas: tuple[int, int], augment: bool = False,
                 scale_jitter: tuple[float, float] = (0.75, 1.25), flip_prob: float = 0.5, seed: int = 0) -> None:
        self.data = data
        self.canvas = canvas
        self.augment = augment
        self.scale_jitter = scale_jitter
        self.flip_prob = flip_prob
        self.rng = np.random.default_rng(seed)
        self.flip_order = flip_permutation(data.keypoint_names) if data.keypoint_names else None

    def __len__(self) -> int:
        return len(self.data.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        record = self.data.images[index]
        image = read_rgb(record.path)
        boxes = record.boxes.copy()
        labels = record.labels.copy()
        joints = None if record.keypoints is None else record.keypoints.copy()
        if self.augment and self.rng.random() < self.flip_prob:
            image = np.ascontiguousarray(image[:, ::-1])
            w = image.shape[1]
            boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
            if joints is not None:
                joints = joints[:, self.flip_order]
                joints[..., 0] = np.where(joints[..., 2] > 0, w - joints[..., 0], 0)
        ch, cw = self.canvas
        if self.augment:
            h, w = image.shape[:2]
            scale = min(ch / h, cw / w) * float(self.rng.uniform(*self.scale_jitter))
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            canvas = np.full((ch, cw, 3), DEFAULT_FILL, np.uint8)
            canvas[:min(ch, nh), :min(cw, nw)] = resized[:ch, :cw]
            boxes = boxes * scale
            visible = boxes.copy()
            visible[:, 0::2] = visible[:, 0::2].clip(0, cw)
            visible[:, 1::2] = visible[:, 1::2].clip(0, ch)
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            vw, vh = visible[:, 2] - visible[:, 0], visible[:, 3] - visible[:, 1]
            keep = (vw * vh >= 0.5 * area) & (vw >= 2) & (vh >= 2)
            boxes, labels = visible[keep], labels[keep]
            joints = None if joints is None else joints[keep]
        else:
            canvas, scale = _letterbox(image, self.canvas, DEFAULT_FILL)
            boxes = boxes * scale
        tensor = torch.from_numpy(canvas).permute(2, 0, 1).float().div_(255.0)
        target = {"boxes": torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4),
                  "labels": torch.from_numpy(labels.astype(np.int64))}
        if joints is not None:
            target["keypoints"] = torch.from_numpy(scale_joints(joints, scale, (ch, cw)))
        return tensor, target


def scale_joints(joints: np.ndarray, scale: float, canvas: tuple[int, int]) -> np.ndarray:
    """Joints [N, J, 3] scaled into the canvas; one that lands off it becomes unlabelled (0, 0, 0)."""
    out = joints.astype(np.float32).copy()
    out[..., :2] *= scale
    off = (out[..., 0] < 0) | (out[..., 1] < 0) | (out[..., 0] >= canvas[1]) | (out[..., 1] >= canvas[0])
    out[off | (out[..., 2] <= 0)] = 0
    return out


def collate(batch):
    images, targets = zip(*batch)
    return list(images), list(targets)
