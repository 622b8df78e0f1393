"""The box head's first fully connected layer reading RoI features bin-row-major, so no layout change is
left between RoI Align's matrix products and the head.

Why: the separable RoI Align body (``roi_align_separable``) naturally produces ``[N, OH, C, OW]``; the
node's contract is ``[B, R, C, OH, OW]``, so the body ends with a Transpose, and on mobilenet320 at 150
RoIs that one data movement was a third of RoI Align's time in ONNX Runtime. An MLP head does not care
in which order it reads the 7x7xC values, only that its weight's columns follow the same order. So the
deploy graph transposes the node's output back to ``[B, R, OH, C, OW]`` and multiplies by fc6's weight
with its columns permuted the same way: after the function is inlined the two Transposes are adjacent
and inverse, and ONNX Runtime and OpenVINO drop both. A TensorRT plugin, which writes the contract's
layout itself, sees one cheap Transpose. The sums are the same products in another order (float
rounding differs in the last bits; the parity check's tolerances hold).

Only torchvision's ``TwoMLPHead`` (fc6 possibly factored by ``box_head_svd``) is read this way; a conv
head needs channels first and keeps the contract's layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.faster_rcnn import TwoMLPHead


class RowMajorMLPHead(nn.Module):
    """``TwoMLPHead`` on ``[N, C, OH, OW]`` RoI features, computed from their ``[N, OH, C, OW]`` view."""

    def __init__(self, head: TwoMLPHead, output_size: int) -> None:
        super().__init__()
        self.head = head
        layers = [m for m in head.fc6.modules() if isinstance(m, nn.Linear)]
        first = layers[0]  # fc6 itself, or its first SVD factor
        bins = output_size * output_size
        channels = first.in_features // bins
        if channels * bins != first.in_features:
            raise ValueError(f"fc6 reads {first.in_features} values, not C x {output_size} x {output_size}")
        with torch.no_grad():
            weight = first.weight.view(-1, channels, output_size, output_size).transpose(1, 2)
            self.register_buffer("first_weight", weight.reshape(first.out_features, -1).contiguous(),
                                 persistent=False)
        self.first, self.rest = first, layers[1:]

    @staticmethod
    def applies(head: nn.Module) -> bool:
        return isinstance(head, TwoMLPHead)

    def forward(self, pooled: Tensor) -> Tensor:
        """``pooled``: [B, R, C, OH, OW] -> [B*R, representation]."""
        x = pooled.transpose(2, 3).flatten(0, 1).flatten(1)  # [B*R, OH*C*OW]
        x = F.linear(x, self.first_weight, self.first.bias)
        for layer in self.rest:  # fc6's second SVD factor
            x = layer(x)
        return self.head.fc7(F.relu(x)).relu()
