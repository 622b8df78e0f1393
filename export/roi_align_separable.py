"""RoI Align on one pyramid level as two matrix products, for the standard-ONNX function body.

Why: with a fixed sampling ratio, torchvision's RoI Align is separable. Every sample is a
bilinear blend, i.e. a product of a weight along y and a weight along x (the out-of-image
test and the edge clamping are per-axis too), and the bin average is a sum over a grid of
samples. So for each RoI ``pooled[c] = Ay @ F[c] @ Ax^T`` with ``Ay`` of shape
``[out_h, H]`` and ``Ax`` of shape ``[out_w, W]``. On small levels (an edge model's
320-pixel canvas) two dense GEMMs run several times faster in onnxruntime than its
``RoiAlign`` kernel plus the routing scatter; on large levels the dense matrices are mostly
zeros and the direct kernel wins. :func:`prefer_separable` makes that choice for the pyramid
from static sizes, so the file is the same for every input.

Level routing costs nothing here: the rows of ``Ay`` of RoIs that belong to another level
are zero, and the per-level results are summed (adding exact zeros changes no bit).
"""

from __future__ import annotations

import onnx_ir as ir

from edgedet.export.onnx_builder import FLOAT, OnnxBuilder

# Dense multiply-adds per direct-kernel tap below which the products win. First measured in
# onnxruntime alone on x86 AVX2 (even at about 35: 2 threads, 300 RoIs, 256 channels); what
# decides it now is OpenVINO, whose RoiAlign kernel is far better than onnxruntime's. On the
# 2-core AVX-512 EPYC (2026-12-04): the demo model (256 canvas, two reachable levels, ratio
# 14.4) runs the same in onnxruntime either way and 1.5x faster direct in OpenVINO bf16
# (10.6 -> 7.1 ms); mobilenet320 (one 10x10 level, ratio 1.5) runs 1.3x faster dense in
# onnxruntime and 1.05-1.08x in OpenVINO. 8 sits between them.
DENSE_SPEED_FACTOR = 8.0


def prefer_separable(level_sizes: list[tuple[int, int]], output_size: tuple[int, int], sampling_ratio: int) -> bool:
    """True when the dense products over every level cost less than the direct kernel.

    The dense form pools every RoI on every level (other levels' rows are zero), the direct
    kernel each RoI once on its own level, so the dense cost is summed over the pyramid.
    """
    if sampling_ratio <= 0:  # adaptive grids differ per RoI; the direct kernel handles them
        return False
    oh, ow = output_size
    dense_macs = sum(oh * h * w + oh * w * ow for h, w in level_sizes)  # per RoI and channel
    direct_taps = 4 * oh * ow * sampling_ratio * sampling_ratio
    return dense_macs <= DENSE_SPEED_FACTOR * direct_taps


def _axis_weights(op: OnnxBuilder, start: ir.Value, end: ir.Value, size: ir.Value, out: int, sr: int, scale: float,
                  aligned: bool) -> ir.Value:
    """[N, out, size]: each bin's averaged bilinear weights along one axis.

    ``start``/``end`` are [N, 1] canvas coordinates, ``size`` a 1-element int64 length of the
    axis. Arithmetic follows torchvision's ``roi_align`` kernel step by step (same operation
    order), so sample positions agree to the last bit.
    """
    one, zero = op.floats([1.0]), op.floats([0.0])
    offset = op.floats([0.5 if aligned else 0.0])
    s = op.Sub(op.Mul(start, op.floats([scale])), offset)
    e = op.Sub(op.Mul(end, op.floats([scale])), offset)
    length = op.Sub(e, s)
    if not aligned:  # torchvision forces malformed RoIs to 1 cell unless aligned
        length = op.Max(length, one)
    bin_size = op.Div(length, op.floats([float(out)]))
    # pos = start + bin_index * bin + ((i + .5) * bin) / sr          [N, out*sr]
    grid_bin = [float(b) for b in range(out) for _ in range(sr)]
    grid_sub = [float(i) + 0.5 for _ in range(out) for i in range(sr)]
    pos = op.Add(op.Add(s, op.Mul(op.floats(grid_bin), bin_size)),
                 op.Div(op.Mul(op.floats(grid_sub), bin_size), op.floats([float(sr)])))
    # samples outside [-1, size] contribute 0; inside, clamp below at 0 and at the last cell
    size_f = op.Cast(size, to=FLOAT)
    inside = op.Cast(op.And(op.GreaterOrEqual(pos, op.floats([-1.0])), op.LessOrEqual(pos, size_f)), to=FLOAT)
    c0 = op.Max(pos, zero)
    lo0 = op.Floor(c0)
    last = op.Sub(size_f, one)
    at_end = op.GreaterOrEqual(lo0, last)
    lo = op.Where(at_end, last, lo0)
    c = op.Where(at_end, last, c0)
    hi = op.Where(at_end, last, op.Add(lo, one))
    frac = op.Sub(c, lo)
    w_lo = op.Mul(op.Sub(one, frac), inside)
    w_hi = op.Mul(frac, inside)
    # the two taps as weights on the axis' cells: [N, out*sr, size]
    cells = op.Cast(op.Range(op.ints(0), op.Squeeze(size), op.ints(1)), to=FLOAT)
    axis2 = op.ints([2])

    def tap_weights(tap: ir.Value, weight: ir.Value) -> ir.Value:
        hit = op.Cast(op.Equal(op.Unsqueeze(tap, axis2), cells), to=FLOAT)
        return op.Mul(hit, op.Unsqueeze(weight, axis2))

    taps = op.Add(tap_weights(lo, w_lo), tap_weights(hi, w_hi))
    # average each bin's sr samples: [N, out, sr, size] -> [N, out, size]
    per_bin = op.ReduceSum(op.Reshape(taps, op.ints([0, out, sr, -1])), axis2, keepdims=0)
    return op.Div(per_bin, op.floats([float(sr)]))


def separable_level(op: OnnxBuilder, feature: ir.Value, coords: tuple[ir.Value, ir.Value, ir.Value, ir.Value],
                    on_level: ir.Value, batch: ir.Value, channels: ir.Value, output_size: tuple[int, int],
                    sampling_ratio: int, stride: int, aligned: bool) -> ir.Value:
    """RoI Align of every RoI on one level: [N, OH, C, OW], zero for other levels' RoIs.

    ``coords`` are [N, 1] x1, y1, x2, y2; ``on_level`` [N] float 1/0; ``batch``/``channels``
    the graph's 1-element int64 B and C; the feature is [B, C, H, W].
    """
    oh, ow = output_size
    x1, y1, x2, y2 = coords
    shape = op.Shape(feature)
    height = op.Slice(shape, op.ints([2]), op.ints([3]))
    width = op.Slice(shape, op.ints([3]), op.ints([4]))
    ay = _axis_weights(op, y1, y2, height, oh, sampling_ratio, 1.0 / stride, aligned)
    ax = _axis_weights(op, x1, x2, width, ow, sampling_ratio, 1.0 / stride, aligned)
    # RoIs of other levels get all-zero rows
    ay = op.Mul(ay, op.Unsqueeze(op.Unsqueeze(on_level, op.ints([1])), op.ints([2])))
    minus1 = op.ints([-1])
    # T[b, r*OH + i, c*W + x] = sum_y Ay[b*R + r, i, y] F[b, c, y, x]
    ay_b = op.Reshape(ay, op.Concat(batch, minus1, height, axis=0))
    f_b = op.Reshape(op.Transpose(feature, perm=[0, 2, 1, 3]), op.Concat(batch, height, minus1, axis=0))
    t = op.MatMul(ay_b, f_b)
    # pooled[n, i, c, j] = sum_x T[n, i*C + c, x] Ax[n, j, x]
    t_n = op.Reshape(t, op.Concat(minus1, op.Mul(channels, op.ints([oh])), width, axis=0))
    u = op.MatMul(t_n, op.Transpose(ax, perm=[0, 2, 1]))
    return op.Reshape(u, op.Concat(minus1, op.ints([oh]), channels, op.ints([ow]), axis=0))
