"""torchvision's keypoint heatmap decode, as a static graph: no ``Loop``, no ``If``, no data-dependent shape.

torchvision (``roi_heads.heatmaps_to_keypoints``) resizes each RoI's heatmaps bicubically
(``align_corners=False``) to ``ceil(max(w, 1)) x ceil(max(h, 1))`` pixels, takes the argmax and
maps it back with ``(x_int + 0.5) * w / ceil(w) + x1``; the resized value at the argmax is the
joint's score. The size depends on each box, so its ONNX export is a ``Loop`` of resizes. Here the
resized map is never built: its value at any output pixel is a fixed formula of that pixel (the
bicubic weights PyTorch's CPU kernel uses, summed in its order), so only the pixels that can hold
the maximum are evaluated:

1. rank the heatmap's cells (output pixels share a cell when their source index ``floor(real)`` is
   the same: 57 per axis, -1 to 55 with PyTorch's border clamping) by the interpolated value at
   the cell's centre and at its four corner samples, a constant 57x56 matrix product per axis;
2. evaluate every output pixel of the best ``cells`` cells exactly (a fixed window of
   ``ceil(max_side / 56) + 3`` pixels per axis covers one cell at any box size up to the canvas);
3. take the maximum, ties to the smallest ``y * W + x`` as ``argmax`` does.

Step 1 is a ranking, not a proof: a heatmap whose best pixel lies in a cell ranked below
``cells`` would decode elsewhere. ``tests/test_keypoint_decode.py`` measures how often against
torchvision's own decode.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

CUBIC_A = -0.75  # PyTorch's bicubic coefficient


def cubic_weights(t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """PyTorch's ``get_cubic_upsample_coefficients``: the weights of source offsets -1, 0, 1, 2."""
    a = CUBIC_A

    def near(x: Tensor) -> Tensor:  # cubic_convolution1, |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Tensor) -> Tensor:  # cubic_convolution2, 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)


def source_index(out: Tensor, scale: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """``area_pixel_compute_source_index`` (cubic) then ``guard_index_and_lambda``: the source cell
    and the fraction within it of output pixel ``out`` (float) at ``scale`` = input / output."""
    real = scale * (out + 0.5) - 0.5
    index = torch.clamp(torch.floor(real), max=size - 1)
    return index, torch.clamp(real - index, 0.0, 1.0)


def _taps(index: Tensor, t: Tensor, size: int) -> Tensor:
    """[..., size]: the bicubic weights of one output pixel spread over the map's samples (clamped)."""
    samples = torch.arange(size, dtype=torch.float32)
    rows = None
    for k, weight in enumerate(cubic_weights(t)):
        tap = torch.clamp(index + (k - 1), 0, size - 1)
        row = (tap.unsqueeze(-1) == samples) * weight.unsqueeze(-1)
        rows = row if rows is None else rows + row
    return rows


def _cell_basis(scale: Tensor, out: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Per box, one interpolation row per cell (-1..size-1) along one axis, [N, size + 1, size], and
    which cells hold at least one output pixel, [N, size + 1].

    A box side shorter than the map (``out`` < size) has at most one pixel per cell: its row is that
    pixel's exact weights, so the ranking along that axis is exact. A longer side has pixels in every
    cell between its first and last pixel's; the cell's centre (t = 0.5) stands for them."""
    n = scale.shape[0]
    cells = torch.arange(-1, size, dtype=torch.float32)
    pixel = torch.arange(size + 1, dtype=torch.float32).view(1, -1)
    index, t = source_index(pixel, scale.view(n, 1), size)  # [N, P]
    hit = (index.unsqueeze(-1) == cells) & (pixel < out.view(n, 1)).unsqueeze(-1)  # [N, P, cells]
    exact = hit.float().transpose(1, 2) @ _taps(index, t, size)  # MatMul, not Einsum: every runtime has it
    centre = _taps(cells, torch.full_like(cells, 0.5), size).unsqueeze(0)
    long_side = (out >= size).view(n, 1)
    first, _ = source_index(torch.zeros_like(out), scale, size)
    last, _ = source_index(out - 1.0, scale, size)
    between = (cells >= first.view(n, 1)) & (cells <= last.view(n, 1))
    basis = torch.where(long_side.unsqueeze(-1), centre, exact)
    return basis, (long_side & between) | (~long_side & hit.any(dim=1))  # no bool Where: onnxruntime has none


def _cell_scores(maps: Tensor, scale_y: Tensor, out_h: Tensor, scale_x: Tensor, out_w: Tensor) -> Tensor:
    """[N, J, size + 1, size + 1]: each cell's ranking value (``-inf`` for cells no pixel samples): the
    interpolated value at its representative point; for boxes larger than the map on both sides, at
    least its largest corner sample too (a peak on a sample is hit by a pixel near it)."""
    size = maps.shape[-1]
    by, sampled_y = _cell_basis(scale_y, out_h, size)
    bx, sampled_x = _cell_basis(scale_x, out_w, size)
    values = by.unsqueeze(1) @ maps @ bx.transpose(1, 2).unsqueeze(1)
    padded = torch.cat([maps[..., :1, :], maps, maps[..., -1:, :]], dim=-2)
    padded = torch.cat([padded[..., :1], padded, padded[..., -1:]], dim=-1)
    corners = torch.nn.functional.max_pool2d(padded.flatten(0, 1), 2, stride=1).view_as(values)
    both_long = ((out_h >= size) & (out_w >= size)).view(-1, 1, 1, 1)
    values = torch.where(both_long, torch.maximum(values, corners), values)
    sampled = sampled_y.view(-1, 1, size + 1, 1) & sampled_x.view(-1, 1, 1, size + 1)
    return torch.where(sampled, values, float("-inf"))


def heatmaps_to_keypoints(maps: Tensor, rois: Tensor, max_side: int, cells: int = 6) -> Tensor:
    """``maps`` [N, J, S, S] heatmap logits, ``rois`` [N, 4] boxes (x1, y1, x2, y2) no wider or taller
    than ``max_side`` pixels -> [N, J, 3]: x, y and the score, as torchvision decodes them."""
    n, j, size = maps.shape[0], maps.shape[1], maps.shape[-1]
    widths = torch.clamp(rois[:, 2] - rois[:, 0], min=1.0)
    heights = torch.clamp(rois[:, 3] - rois[:, 1], min=1.0)
    out_w, out_h = torch.ceil(widths), torch.ceil(heights)
    scale_x, scale_y = size / out_w, size / out_h  # float input size / output size, as PyTorch

    # 1. the best cells of each map among those the box's pixels sample
    scores = _cell_scores(maps, scale_y, out_h, scale_x, out_w)
    ranked = scores.reshape(n, j, -1).topk(cells, dim=-1).indices  # [N, J, C]
    cell_y = torch.div(ranked, size + 1, rounding_mode="floor").float() - 1.0
    cell_x = (ranked % (size + 1)).float() - 1.0

    # 2. the output pixels of those cells (a fixed window from just before the cell's first pixel)
    window = math.ceil(max_side / size) + 3
    steps = torch.arange(window, dtype=torch.float32)

    def pixels(cell: Tensor, scale: Tensor) -> Tensor:
        first = torch.floor((cell + 0.5) / scale.view(n, 1, 1) - 0.5) - 1.0
        return torch.clamp(first, min=0.0).unsqueeze(-1) + steps  # [N, J, C, Q]

    px, py = pixels(cell_x, scale_x), pixels(cell_y, scale_y)
    ix, tx = source_index(px, scale_x.view(n, 1, 1, 1), size)
    iy, ty = source_index(py, scale_y.view(n, 1, 1, 1), size)
    wx, wy = cubic_weights(tx), cubic_weights(ty)
    flat = maps.reshape(-1)  # one Gather over every map (GatherElements' reference kernel takes <= 64 choices)
    base = (torch.arange(n * j).view(n, j, 1) * (size * size))

    def tap(k: int, index: Tensor) -> Tensor:
        return torch.clamp(index + (k - 1), 0, size - 1).long()

    q = window
    rows = [tap(k, iy).view(n, j, -1, q, 1) * size for k in range(4)]
    cols = [tap(k, ix).view(n, j, -1, 1, q) for k in range(4)]

    def sample(k: int, m: int) -> Tensor:  # M[row tap k of each y, column tap m of each x]: [N, J, C, Q, Q]
        index = (rows[k] + cols[m]).reshape(n, j, -1) + base
        return flat[index.reshape(-1)].view(n, j, -1, q, q)

    wxs = [w.view(n, j, -1, 1, q) for w in wx]
    wys = [w.view(n, j, -1, q, 1) for w in wy]
    value = None
    for k in range(4):  # along x within each of the 4 rows, then along y: PyTorch's order
        row = sample(k, 0) * wxs[0] + sample(k, 1) * wxs[1] + sample(k, 2) * wxs[2] + sample(k, 3) * wxs[3]
        value = row * wys[k] if value is None else value + row * wys[k]

    # 3. the maximum over the pixels inside the resized map, ties to the first in row-major order
    inside = (px < out_w.view(n, 1, 1, 1)).view(n, j, -1, 1, q) & (py < out_h.view(n, 1, 1, 1)).view(n, j, -1, q, 1)
    value = torch.where(inside, value, float("-inf")).reshape(n, j, -1)
    best = value.amax(dim=-1, keepdim=True)
    order = (py.view(n, j, -1, q, 1) * out_w.view(n, 1, 1, 1, 1) + px.view(n, j, -1, 1, q)).reshape(n, j, -1)
    first = torch.where(value == best, order, float("inf")).amin(dim=-1)  # [N, J]
    y_int = torch.floor(first / out_w.view(n, 1))
    x_int = first - y_int * out_w.view(n, 1)
    x = (x_int + 0.5) * (widths / out_w).view(n, 1) + rois[:, 0:1]
    y = (y_int + 0.5) * (heights / out_h).view(n, 1) + rois[:, 1:2]
    return torch.stack([x, y, best.squeeze(-1)], dim=-1)
