"""The static keypoint decode against torchvision's own ``heatmaps_to_keypoints`` (the oracle), in
eager torch and as an ONNX graph (no Loop/If) run by onnxruntime and ``onnx.reference``."""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from torch import nn
from torchvision.models.detection.roi_heads import heatmaps_to_keypoints as torchvision_decode

from edgedet.export.keypoint_decode import heatmaps_to_keypoints


def heatmaps(n: int, joints: int, seed: int = 0) -> torch.Tensor:
    """Like a keypoint predictor's: a 28x28 map (noise plus one peak at a random place) upsampled x2
    bilinearly to 56x56. The noise gives many local maxima, the hard case for the decode."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, joints, 28, 28, generator=g) * 2
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    cy, cx = torch.rand(n, joints, 1, 1, generator=g) * 27, torch.rand(n, joints, 1, 1, generator=g) * 27
    low = low + 8 * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4)
    return nn.functional.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)


def boxes(n: int, side: int, seed: int = 0) -> torch.Tensor:
    """Boxes inside a ``side`` canvas, most small (down-sampled maps), with degenerate ones first."""
    g = torch.Generator().manual_seed(seed)
    x1, y1 = torch.rand(n, generator=g) * side / 2, torch.rand(n, generator=g) * side / 2
    w = torch.rand(n, generator=g) ** 2 * (side - x1)
    h = torch.rand(n, generator=g) ** 2 * (side - y1)
    w[:6] = torch.tensor([0.0, 0.3, 1.0, 1.5, 56.0, 57.3])
    h[:6] = torch.tensor([2.0, 0.0, 55.5, 56.0, 1.0, 90.0])
    return torch.stack([x1, y1, x1 + w, y1 + h], 1)


@pytest.mark.parametrize("side", [256, 800])
def test_equals_torchvision(side):
    maps, rois = heatmaps(160, 9, seed=side), boxes(160, side, seed=side)
    ours = heatmaps_to_keypoints(maps, rois, side)
    xy, scores = torchvision_decode(maps, rois)
    assert ours.shape == (160, 9, 3)
    same = (ours[..., :2] == xy[..., :2]).all(-1)  # the very pixel torchvision picks
    assert same.all(), f"{int((~same).sum())} of {same.numel()} joints elsewhere"
    # the score is the resized map's value there, summed in a slightly different order
    torch.testing.assert_close(ours[..., 2], scores, rtol=0, atol=1e-4)


class Decode(nn.Module):
    def forward(self, maps: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return heatmaps_to_keypoints(maps, rois, 256)


@pytest.mark.slow
def test_onnx_graph_is_static_and_runtimes_agree():
    maps, rois = heatmaps(12, 5, seed=3), boxes(12, 256, seed=3)
    program = torch.onnx.export(Decode().eval(), (maps, rois), dynamo=True, input_names=["maps", "rois"],
                                optimize=True, verbose=False, report=False)
    proto = program.model_proto
    ops = {node.op_type for node in proto.graph.node} | {n.op_type for f in proto.functions for n in f.node}
    assert not ops & {"Loop", "If", "Scan"}, ops
    feeds = {"maps": maps.numpy(), "rois": rois.numpy()}
    buffer = io.BytesIO()
    onnx.save(proto, buffer)
    got = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    reference = ReferenceEvaluator(proto).run(None, feeds)[0]
    xy, scores = torchvision_decode(maps, rois)
    expected = torch.cat([xy[..., :2], scores.unsqueeze(-1)], -1).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(reference, expected, rtol=0, atol=1e-4)
