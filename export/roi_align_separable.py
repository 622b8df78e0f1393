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

import onnx
from onnx import TensorProto, helper

from export.onnx_nodes import constant as _const

# Dense multiply-adds per direct-kernel tap at which the two run equally fast in
# onnxruntime's CPU provider: measured about 35 on x86 AVX2 (2 threads, 300 RoIs, 256
# channels: a 25x25 level runs 2.5x faster dense, 50x50 1.2x, 60x60 even, 100x100 2.4x
# slower); 24 keeps a margin.
DENSE_SPEED_FACTOR = 24.0


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


def _axis_weights(p: str, start: str, end: str, size: str, out: int, sr: int, scale: float, aligned: bool,
                  ) -> list[onnx.NodeProto]:
    """Nodes computing ``{p}w`` [N, out, size]: each bin's averaged bilinear weights along one axis.

    ``start``/``end`` are [N, 1] canvas coordinates, ``size`` a 1-element int64 length of the
    axis. Arithmetic follows torchvision's ``roi_align`` kernel step by step (same operation
    order), so sample positions agree to the last bit.
    """
    grid_bin = [float(b) for b in range(out) for _ in range(sr)]
    grid_sub = [float(i) + 0.5 for _ in range(out) for i in range(sr)]
    f32 = TensorProto.FLOAT
    m = helper.make_node
    consts = {"scale": [scale], "off": [0.5 if aligned else 0.0], "gbin": grid_bin, "gsub": grid_sub,
              "out": [float(out)], "sr": [float(sr)], "one": [1.0], "zero": [0.0], "neg1": [-1.0]}
    nodes = [_const(p + k, v, f32) for k, v in consts.items()]
    nodes += [
        _const(p + "shape4", [0, out, sr, -1], TensorProto.INT64), _const(p + "ax2", [2], TensorProto.INT64),
        _const(p + "zero_i", [0], TensorProto.INT64), _const(p + "one_i", [1], TensorProto.INT64),
        m("Mul", [start, p + "scale"], [p + "s0"]), m("Sub", [p + "s0", p + "off"], [p + "s"]),
        m("Mul", [end, p + "scale"], [p + "e0"]), m("Sub", [p + "e0", p + "off"], [p + "e"]),
        m("Sub", [p + "e", p + "s"], [p + "len0"]),
        # torchvision forces malformed RoIs to 1 cell unless aligned
        m("Max", [p + "len0", p + "one"], [p + "len"]) if not aligned else m("Identity", [p + "len0"], [p + "len"]),
        m("Div", [p + "len", p + "out"], [p + "bin"]),
        # pos = start + bin_index * bin + ((i + .5) * bin) / sr          [N, out*sr]
        m("Mul", [p + "gbin", p + "bin"], [p + "pb"]), m("Add", [p + "s", p + "pb"], [p + "pa"]),
        m("Mul", [p + "gsub", p + "bin"], [p + "ps0"]), m("Div", [p + "ps0", p + "sr"], [p + "ps"]),
        m("Add", [p + "pa", p + "ps"], [p + "pos"]),
        # samples outside [-1, size] contribute 0; inside, clamp below at 0 and at the last cell
        m("Cast", [size], [p + "sizef"], to=f32),
        m("GreaterOrEqual", [p + "pos", p + "neg1"], [p + "in_lo"]),
        m("LessOrEqual", [p + "pos", p + "sizef"], [p + "in_hi"]),
        m("And", [p + "in_lo", p + "in_hi"], [p + "in_b"]), m("Cast", [p + "in_b"], [p + "inside"], to=f32),
        m("Max", [p + "pos", p + "zero"], [p + "c0"]), m("Floor", [p + "c0"], [p + "lo0"]),
        m("Sub", [p + "sizef", p + "one"], [p + "last"]),
        m("GreaterOrEqual", [p + "lo0", p + "last"], [p + "at_end"]),
        m("Where", [p + "at_end", p + "last", p + "lo0"], [p + "lo"]),
        m("Where", [p + "at_end", p + "last", p + "c0"], [p + "c"]),
        m("Add", [p + "lo", p + "one"], [p + "hi0"]),
        m("Where", [p + "at_end", p + "last", p + "hi0"], [p + "hi"]),
        m("Sub", [p + "c", p + "lo"], [p + "l"]), m("Sub", [p + "one", p + "l"], [p + "h"]),
        m("Mul", [p + "h", p + "inside"], [p + "wl"]), m("Mul", [p + "l", p + "inside"], [p + "wh"]),
        # the two taps as weights on the axis' cells: [N, out*sr, size]
        m("Squeeze", [size], [p + "size_s"]),
        m("Squeeze", [p + "zero_i"], [p + "z_s"]), m("Squeeze", [p + "one_i"], [p + "o_s"]),
        m("Range", [p + "z_s", p + "size_s", p + "o_s"], [p + "cells_i"]),
        m("Cast", [p + "cells_i"], [p + "cells"], to=f32),
    ]
    for tap, weight in (("lo", "wl"), ("hi", "wh")):
        nodes += [
            m("Unsqueeze", [p + tap, p + "ax2"], [p + tap + "3"]),
            m("Unsqueeze", [p + weight, p + "ax2"], [p + weight + "3"]),
            m("Equal", [p + tap + "3", p + "cells"], [p + tap + "_hit_b"]),
            m("Cast", [p + tap + "_hit_b"], [p + tap + "_hit"], to=f32),
            m("Mul", [p + tap + "_hit", p + weight + "3"], [p + tap + "_w"]),
        ]
    nodes += [
        m("Add", [p + "lo_w", p + "hi_w"], [p + "taps"]),
        # average each bin's sr samples: [N, out, sr, size] -> [N, out, size]
        m("Reshape", [p + "taps", p + "shape4"], [p + "taps4"]),
        m("ReduceSum", [p + "taps4", p + "ax2"], [p + "sum"], keepdims=0),
        m("Div", [p + "sum", p + "sr"], [p + "w"]),
    ]
    return nodes


def separable_level_nodes(p: str, feature: str, coords: tuple[str, str, str, str], on_level: str,
                          batch: str, channels: str, output_size: tuple[int, int], sampling_ratio: int,
                          stride: int, aligned: bool, pooled: str) -> list[onnx.NodeProto]:
    """RoI Align of every RoI on one level into ``pooled`` [N, OH, C, OW], zero for other levels' RoIs.

    ``coords`` name [N, 1] x1, y1, x2, y2; ``on_level`` [N] float 1/0; ``batch``/``channels``
    name the graph's 1-element int64 B and C; the feature is [B, C, H, W].
    """
    oh, ow = output_size
    x1, y1, x2, y2 = coords
    m = helper.make_node
    nodes = [
        _const(p + "i2", [2], TensorProto.INT64), _const(p + "i3", [3], TensorProto.INT64),
        _const(p + "i4", [4], TensorProto.INT64), _const(p + "m1", [-1], TensorProto.INT64),
        _const(p + "i1", [1], TensorProto.INT64),
        _const(p + "oh_i", [oh], TensorProto.INT64), _const(p + "ow_i", [ow], TensorProto.INT64),
        m("Shape", [feature], [p + "fshape"]),
        m("Slice", [p + "fshape", p + "i2", p + "i3"], [p + "H"]),
        m("Slice", [p + "fshape", p + "i3", p + "i4"], [p + "W"]),
    ]
    nodes += _axis_weights(p + "y_", y1, y2, p + "H", oh, sampling_ratio, 1.0 / stride, aligned)
    nodes += _axis_weights(p + "x_", x1, x2, p + "W", ow, sampling_ratio, 1.0 / stride, aligned)
    b, c = batch, channels
    nodes += [
        # RoIs of other levels get all-zero rows
        m("Unsqueeze", [on_level, p + "i1"], [p + "sel2"]), m("Unsqueeze", [p + "sel2", p + "i2"], [p + "sel3"]),
        m("Mul", [p + "y_w", p + "sel3"], [p + "ay"]),
        # T[b, r*OH + i, c*W + x] = sum_y Ay[b*R + r, i, y] F[b, c, y, x]
        m("Concat", [b, p + "m1", p + "H"], [p + "ay_shape"], axis=0),
        m("Reshape", [p + "ay", p + "ay_shape"], [p + "ay_b"]),
        m("Transpose", [feature], [p + "f_hcw"], perm=[0, 2, 1, 3]),
        m("Concat", [b, p + "H", p + "m1"], [p + "f_shape"], axis=0),
        m("Reshape", [p + "f_hcw", p + "f_shape"], [p + "f_b"]),
        m("MatMul", [p + "ay_b", p + "f_b"], [p + "t"]),
        # pooled[n, i, c, j] = sum_x T[n, i*C + c, x] Ax[n, j, x]
        m("Mul", [c, p + "oh_i"], [p + "ohC"]),
        m("Concat", [p + "m1", p + "ohC", p + "W"], [p + "t_shape"], axis=0),
        m("Reshape", [p + "t", p + "t_shape"], [p + "t_n"]),
        m("Transpose", [p + "x_w"], [p + "ax_t"], perm=[0, 2, 1]),
        m("MatMul", [p + "t_n", p + "ax_t"], [p + "u"]),
        m("Concat", [p + "m1", p + "oh_i", c, p + "ow_i"], [p + "u_shape"], axis=0),
        m("Reshape", [p + "u", p + "u_shape"], [pooled]),
    ]
    return nodes
