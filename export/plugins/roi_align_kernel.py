"""The MultiLevelRoIAlign kernel, written once in Triton.

One program pools one RoI for a block of channels: it maps the RoI to its FPN level with
torchvision's ``LevelMapper`` (floor(l0 + log2(sqrt(area)/s0) + eps), clamped), then runs
torchvision's RoI Align (bilinear samples averaged, ``aligned`` on/off, fixed or adaptive
sampling ratio) or RoI Pool (coordinates rounded to the grid, max taken) on that level.
The same source runs on the CPU under ``TRITON_INTERPRET=1`` (how it is tested against
``torchvision.ops`` here), on any NVIDIA GPU through Triton's JIT, and is compiled ahead of
time to PTX for the TensorRT plugin (``export.plugins.trt_plugin``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import triton
import triton.language as tl

from edgedet.export.roi_spec import RoIAlignSpec, RoIMode, infer_strides

if TYPE_CHECKING:  # torch only for the JIT launch below: the AOT compile (compile_ptx) runs without it
    import torch

MAX_LEVELS = 5


@triton.jit
def _bilinear(base, y, x, H, W, mask):
    """torchvision's bilinear_interpolate; ``y``/``x`` [BINS, 1] sample points, ``base`` [1, BLOCK_C]."""
    outside = (y < -1.0) | (y > H) | (x < -1.0) | (x > W)
    y = tl.maximum(y, 0.0)
    x = tl.maximum(x, 0.0)
    y_low = y.to(tl.int32)
    x_low = x.to(tl.int32)
    y_top = y_low >= H - 1
    x_top = x_low >= W - 1
    y_low = tl.where(y_top, H - 1, y_low)
    x_low = tl.where(x_top, W - 1, x_low)
    y_high = tl.where(y_top, H - 1, y_low + 1)
    x_high = tl.where(x_top, W - 1, x_low + 1)
    y = tl.where(y_top, y_low.to(tl.float32), y)
    x = tl.where(x_top, x_low.to(tl.float32), x)
    ly = y - y_low.to(tl.float32)
    lx = x - x_low.to(tl.float32)
    hy = 1.0 - ly
    hx = 1.0 - lx
    v1 = tl.load(base + y_low * W + x_low, mask=mask, other=0.0).to(tl.float32)
    v2 = tl.load(base + y_low * W + x_high, mask=mask, other=0.0).to(tl.float32)
    v3 = tl.load(base + y_high * W + x_low, mask=mask, other=0.0).to(tl.float32)
    v4 = tl.load(base + y_high * W + x_high, mask=mask, other=0.0).to(tl.float32)
    value = hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4
    return tl.where(outside, 0.0, value)


@triton.jit
def _round_half_away(v):
    """C's round(): halves away from zero (torchvision's roi_pool)."""
    return tl.where(v >= 0, tl.floor(v + 0.5), -tl.floor(-v + 0.5))


@triton.jit
def _roi_body(
    rois_ptr, f0, f1, f2, f3, f4, out_ptr,
    C, R,
    H0, W0, H1, W1, H2, W2, H3, W3, H4, W4,
    K_MIN: tl.constexpr, K_MAX: tl.constexpr, SAMPLING: tl.constexpr,
    CANONICAL_SCALE: tl.constexpr, CANONICAL_LEVEL: tl.constexpr, LEVEL_EPS: tl.constexpr,
    OUT: tl.constexpr, BINS: tl.constexpr, NUM_LEVELS: tl.constexpr, ALIGNED: tl.constexpr,
    POOL: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """One program: one RoI, all OUT x OUT bins (vectorised), a block of channels."""
    roi = tl.program_id(0)
    b = roi // R
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    bins = tl.arange(0, BINS)
    ph = (bins // OUT).to(tl.float32)[:, None]
    pw = (bins % OUT).to(tl.float32)[:, None]
    mask = (bins < OUT * OUT)[:, None] & (c < C)[None, :]
    x1 = tl.load(rois_ptr + roi * 4 + 0).to(tl.float32)
    y1 = tl.load(rois_ptr + roi * 4 + 1).to(tl.float32)
    x2 = tl.load(rois_ptr + roi * 4 + 2).to(tl.float32)
    y2 = tl.load(rois_ptr + roi * 4 + 3).to(tl.float32)

    # torchvision LevelMapper on canvas-pixel boxes; a negative area (NaN level) maps to no level
    area = (x2 - x1) * (y2 - y1)
    lvl_f = tl.floor(CANONICAL_LEVEL + tl.log2(tl.sqrt(tl.maximum(area, 0.0)) / CANONICAL_SCALE) + LEVEL_EPS)
    lvl = tl.minimum(tl.maximum(lvl_f, K_MIN * 1.0), K_MAX * 1.0).to(tl.int32) - K_MIN

    feat = f0
    H = H0
    W = W0
    if NUM_LEVELS > 1:
        if lvl == 1:
            feat = f1
            H = H1
            W = W1
    if NUM_LEVELS > 2:
        if lvl == 2:
            feat = f2
            H = H2
            W = W2
    if NUM_LEVELS > 3:
        if lvl == 3:
            feat = f3
            H = H3
            W = W3
    if NUM_LEVELS > 4:
        if lvl == 4:
            feat = f4
            H = H4
            W = W4
    scale = 1.0 / tl.exp2((lvl + K_MIN).to(tl.float32))
    base = feat + ((b * C + c).to(tl.int64) * H * W)[None, :]
    out_ptrs = out_ptr + ((roi * C + c).to(tl.int64) * (OUT * OUT))[None, :] + bins[:, None]

    if POOL:
        start_w = _round_half_away(x1 * scale).to(tl.int32)
        start_h = _round_half_away(y1 * scale).to(tl.int32)
        end_w = _round_half_away(x2 * scale).to(tl.int32)
        end_h = _round_half_away(y2 * scale).to(tl.int32)
        bin_w = tl.maximum(end_w - start_w + 1, 1).to(tl.float32) / OUT
        bin_h = tl.maximum(end_h - start_h + 1, 1).to(tl.float32) / OUT
        hstart = tl.minimum(tl.maximum(tl.floor(ph * bin_h).to(tl.int32) + start_h, 0), H)
        hend = tl.minimum(tl.maximum(tl.ceil((ph + 1) * bin_h).to(tl.int32) + start_h, 0), H)
        wstart = tl.minimum(tl.maximum(tl.floor(pw * bin_w).to(tl.int32) + start_w, 0), W)
        wend = tl.minimum(tl.maximum(tl.ceil((pw + 1) * bin_w).to(tl.int32) + start_w, 0), W)
        best = tl.full([BINS, BLOCK_C], float("-inf"), tl.float32)
        span_h = tl.ceil(bin_h).to(tl.int32) + 1
        span_w = tl.ceil(bin_w).to(tl.int32) + 1
        for dh in range(span_h):
            h = hstart + dh
            for dw in range(span_w):
                w = wstart + dw
                m = mask & (h < hend) & (w < wend)
                v = tl.load(base + h * W + w, mask=m, other=float("-inf")).to(tl.float32)
                best = tl.maximum(best, v)
        empty = (hend <= hstart) | (wend <= wstart)
        result = tl.where(empty, 0.0, best)
    else:
        offset = 0.5 if ALIGNED else 0.0
        start_w = x1 * scale - offset
        start_h = y1 * scale - offset
        roi_w = x2 * scale - offset - start_w
        roi_h = y2 * scale - offset - start_h
        if not ALIGNED:
            roi_w = tl.maximum(roi_w, 1.0)
            roi_h = tl.maximum(roi_h, 1.0)
        bin_w = roi_w / OUT
        bin_h = roi_h / OUT
        if SAMPLING > 0:
            grid_h = SAMPLING + tl.zeros([], tl.int32)
            grid_w = SAMPLING + tl.zeros([], tl.int32)
        else:
            grid_h = tl.ceil(roi_h / OUT).to(tl.int32)
            grid_w = tl.ceil(roi_w / OUT).to(tl.int32)
        acc = tl.zeros([BINS, BLOCK_C], tl.float32)
        for iy in range(grid_h):
            y = start_h + ph * bin_h + (iy + 0.5) * bin_h / grid_h.to(tl.float32)
            for ix in range(grid_w):
                x = start_w + pw * bin_w + (ix + 0.5) * bin_w / grid_w.to(tl.float32)
                acc += _bilinear(base, y, x, H, W, mask)
        result = acc / tl.maximum(grid_h * grid_w, 1).to(tl.float32)
    result = tl.where(area >= 0, result, 0.0)
    tl.store(out_ptrs, result.to(out_ptr.dtype.element_ty), mask=(bins < OUT * OUT)[:, None] & (c < C)[None, :])


# Entry points, one per pyramid depth, in TensorRT's AOT plugin calling convention:
# (input pointers..., extra int arguments..., output pointers). Each forwards to _roi_body.


@triton.jit
def roi_align_1(rois_ptr, f0, C, R, H0, W0, out_ptr, K_MIN: tl.constexpr, K_MAX: tl.constexpr,
                SAMPLING: tl.constexpr, CANONICAL_SCALE: tl.constexpr, CANONICAL_LEVEL: tl.constexpr,
                LEVEL_EPS: tl.constexpr, OUT: tl.constexpr, BINS: tl.constexpr, ALIGNED: tl.constexpr,
                POOL: tl.constexpr, BLOCK_C: tl.constexpr):
    _roi_body(rois_ptr, f0, f0, f0, f0, f0, out_ptr, C, R, H0, W0, H0, W0, H0, W0, H0, W0, H0, W0,
              K_MIN, K_MAX, SAMPLING, CANONICAL_SCALE, CANONICAL_LEVEL, LEVEL_EPS, OUT, BINS, 1, ALIGNED, POOL,
              BLOCK_C)


@triton.jit
def roi_align_2(rois_ptr, f0, f1, C, R, H0, W0, H1, W1, out_ptr, K_MIN: tl.constexpr, K_MAX: tl.constexpr,
                SAMPLING: tl.constexpr, CANONICAL_SCALE: tl.constexpr, CANONICAL_LEVEL: tl.constexpr,
                LEVEL_EPS: tl.constexpr, OUT: tl.constexpr, BINS: tl.constexpr, ALIGNED: tl.constexpr,
                POOL: tl.constexpr, BLOCK_C: tl.constexpr):
    _roi_body(rois_ptr, f0, f1, f0, f0, f0, out_ptr, C, R, H0, W0, H1, W1, H0, W0, H0, W0, H0, W0,
              K_MIN, K_MAX, SAMPLING, CANONICAL_SCALE, CANONICAL_LEVEL, LEVEL_EPS, OUT, BINS, 2, ALIGNED, POOL,
              BLOCK_C)


@triton.jit
def roi_align_3(rois_ptr, f0, f1, f2, C, R, H0, W0, H1, W1, H2, W2, out_ptr, K_MIN: tl.constexpr,
                K_MAX: tl.constexpr, SAMPLING: tl.constexpr, CANONICAL_SCALE: tl.constexpr,
                CANONICAL_LEVEL: tl.constexpr, LEVEL_EPS: tl.constexpr, OUT: tl.constexpr, BINS: tl.constexpr,
                ALIGNED: tl.constexpr, POOL: tl.constexpr, BLOCK_C: tl.constexpr):
    _roi_body(rois_ptr, f0, f1, f2, f0, f0, out_ptr, C, R, H0, W0, H1, W1, H2, W2, H0, W0, H0, W0,
              K_MIN, K_MAX, SAMPLING, CANONICAL_SCALE, CANONICAL_LEVEL, LEVEL_EPS, OUT, BINS, 3, ALIGNED, POOL,
              BLOCK_C)


@triton.jit
def roi_align_4(rois_ptr, f0, f1, f2, f3, C, R, H0, W0, H1, W1, H2, W2, H3, W3, out_ptr, K_MIN: tl.constexpr,
                K_MAX: tl.constexpr, SAMPLING: tl.constexpr, CANONICAL_SCALE: tl.constexpr,
                CANONICAL_LEVEL: tl.constexpr, LEVEL_EPS: tl.constexpr, OUT: tl.constexpr, BINS: tl.constexpr,
                ALIGNED: tl.constexpr, POOL: tl.constexpr, BLOCK_C: tl.constexpr):
    _roi_body(rois_ptr, f0, f1, f2, f3, f0, out_ptr, C, R, H0, W0, H1, W1, H2, W2, H3, W3, H0, W0,
              K_MIN, K_MAX, SAMPLING, CANONICAL_SCALE, CANONICAL_LEVEL, LEVEL_EPS, OUT, BINS, 4, ALIGNED, POOL,
              BLOCK_C)


@triton.jit
def roi_align_5(rois_ptr, f0, f1, f2, f3, f4, C, R, H0, W0, H1, W1, H2, W2, H3, W3, H4, W4, out_ptr,
                K_MIN: tl.constexpr, K_MAX: tl.constexpr, SAMPLING: tl.constexpr, CANONICAL_SCALE: tl.constexpr,
                CANONICAL_LEVEL: tl.constexpr, LEVEL_EPS: tl.constexpr, OUT: tl.constexpr, BINS: tl.constexpr,
                ALIGNED: tl.constexpr, POOL: tl.constexpr, BLOCK_C: tl.constexpr):
    _roi_body(rois_ptr, f0, f1, f2, f3, f4, out_ptr, C, R, H0, W0, H1, W1, H2, W2, H3, W3, H4, W4,
              K_MIN, K_MAX, SAMPLING, CANONICAL_SCALE, CANONICAL_LEVEL, LEVEL_EPS, OUT, BINS, 5, ALIGNED, POOL,
              BLOCK_C)


KERNELS = {1: roi_align_1, 2: roi_align_2, 3: roi_align_3, 4: roi_align_4, 5: roi_align_5}


def multilevel_roi_align(
    features: Sequence[torch.Tensor],
    rois: torch.Tensor,
    *,
    image_size: tuple[int, int],
    output_size: int = 7,
    sampling_ratio: int = 2,
    aligned: bool = False,
    canonical_scale: float = 224.0,
    canonical_level: int = 4,
    mode: str = "align",
    block_c: int = 32,
) -> torch.Tensor:
    """features: FPN levels [B,C,Hi,Wi] finest first; rois [B,R,4] canvas pixels -> [B,R,C,S,S]."""
    import torch

    if not 1 <= len(features) <= MAX_LEVELS:
        raise ValueError(f"between 1 and {MAX_LEVELS} feature levels, got {len(features)}")
    b, r, _ = rois.shape
    c = features[0].shape[1]
    strides = infer_strides([tuple(f.shape[-2:]) for f in features], image_size)
    spec = RoIAlignSpec(tuple(strides), output_size, sampling_ratio, aligned, canonical_scale, canonical_level,
                        mode=RoIMode(mode))
    consts = spec.kernel_constants(c, block_c=block_c)
    feats = [f.contiguous() for f in features]
    dims = [d for f in feats for d in (f.shape[-2], f.shape[-1])]
    out = torch.empty((b, r, c, output_size, output_size), dtype=features[0].dtype, device=rois.device)
    if b * r == 0:
        return out
    grid = (b * r, triton.cdiv(c, consts["BLOCK_C"]))
    KERNELS[len(feats)][grid](rois.contiguous(), *feats, c, r, *dims, out, **consts)
    return out
