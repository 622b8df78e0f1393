"""RoI Pool in torchvision's pooler interface: Fast R-CNN's pooling, and the `--roi-mode pool`
variant of our Faster R-CNNs, so RoI Pool vs RoI Align is one training run apart.

``MultiScaleRoIPool`` is torchvision's ``MultiScaleRoIAlign`` (the same level mapping and scales,
so a one-level pyramid is plain Fast R-CNN) with ``torchvision.ops.roi_pool`` per level: box
coordinates snapped to the feature grid and the maximum of each bin taken. The exporter writes it
as our ``MultiLevelRoIAlign`` node with ``mode=pool``, whose function body is ONNX ``MaxRoiPool``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import MultiScaleRoIAlign, roi_pool
from torchvision.ops.poolers import _convert_to_roi_format, _filter_input, _setup_scales


class MultiScaleRoIPool(MultiScaleRoIAlign):
    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        features = _filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(features, image_shapes, self.canonical_scale,
                                                         self.canonical_level)
        rois = _convert_to_roi_format(boxes)
        if len(features) == 1:
            return roi_pool(features[0], rois, self.output_size, self.scales[0])
        levels = self.map_levels(boxes)
        result = features[0].new_zeros((len(rois), features[0].shape[1], *self.output_size))
        for level, (feature, scale) in enumerate(zip(features, self.scales)):
            idx = torch.where(levels == level)[0]
            result[idx] = roi_pool(feature, rois[idx], self.output_size, scale).to(result.dtype)
        return result


def use_roi_pool(model: torch.nn.Module) -> torch.nn.Module:
    """Swap a torchvision detector's box RoI Align for RoI Pool over the same feature maps (in place)."""
    old = model.roi_heads.box_roi_pool
    model.roi_heads.box_roi_pool = MultiScaleRoIPool(old.featmap_names, old.output_size, old.sampling_ratio,
                                                     canonical_scale=old.canonical_scale,
                                                     canonical_level=old.canonical_level)
    return model
