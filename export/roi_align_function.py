"""``edgedet::MultiLevelRoIAlign``: the ONNX schema of our node and its standard-ONNX function body.

The node is what TensorRT sees (our plugin replaces it, matched by name, version and
``plugin_namespace``); the model-local function of the same name and domain is what every
other ONNX runtime executes, built from standard ONNX only. Both come from one ``RoIAlignSpec``
(:mod:`edgedet.export.roi_spec`), so they cannot disagree.

The pyramid is lowered one of two ways, chosen from its size on the export canvas:
small pyramids as two matrix products per level (:mod:`edgedet.export.roi_align_separable`; static,
no routing), large ones (and pool mode, and adaptive sampling) with the standard ``RoiAlign``
(opset >= 16, ``coordinate_transformation_mode`` written out) or ``MaxRoiPool``, RoIs routed to
their level with NonZero/Gather/ScatterND so each is pooled once. That dynamic size lives only
inside the fallback body; the graph around the node and the plugin's output are static.
"""

from __future__ import annotations

import math

import onnx
import onnx_ir as ir

from edgedet.export.onnx_builder import FLOAT, OnnxBuilder
from edgedet.export.roi_align_separable import prefer_separable, separable_level
from edgedet.export.roi_spec import ATTRIBUTE_KINDS, DOMAIN, OP_TYPE, VERSION, RoIAlignSpec, RoIMode

MIN_OPSET = 16  # RoiAlign's coordinate_transformation_mode

_ONNX_KINDS = {
    "int": onnx.defs.OpSchema.AttrType.INT,
    "float": onnx.defs.OpSchema.AttrType.FLOAT,
    "ints": onnx.defs.OpSchema.AttrType.INTS,
    "string": onnx.defs.OpSchema.AttrType.STRING,
}
ATTRIBUTE_TYPES = {name: _ONNX_KINDS[kind] for name, kind in ATTRIBUTE_KINDS.items()}


def register_schema() -> None:
    """Make the op known to onnx (and so to onnxscript's tracer); idempotent."""
    if onnx.defs.has(OP_TYPE, DOMAIN):
        return
    param = onnx.defs.OpSchema.FormalParameter
    schema = onnx.defs.OpSchema(
        OP_TYPE, DOMAIN, VERSION,
        "Multi-level RoI Align/Pool over an FPN with torchvision's level mapping; rois [B,R,4] in canvas "
        "pixels, features finest first [B,C,Hi,Wi]; output [B,R,C,output_height,output_width].",
        # One variadic list (rois, then the levels) binds unambiguously in every tracer.
        inputs=[param("inputs", "T", "rois [B,R,4] x1,y1,x2,y2, then the pyramid levels, finest first",
                      param_option=onnx.defs.OpSchema.FormalParameterOption.Variadic, min_arity=2)],
        outputs=[param("pooled", "T", "[B,R,C,OH,OW]")],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)"], "float types")],
        attributes=[onnx.defs.OpSchema.Attribute(n, t, required=False) for n, t in ATTRIBUTE_TYPES.items()],
    )
    onnx.defs.register_schema(schema)


def level_index(op: OnnxBuilder, area: ir.Value, spec: RoIAlignSpec) -> ir.Value:
    """torchvision's LevelMapper, in its operation order: clamp(floor(l0 + log2(sqrt(area) / s0) + eps),
    k_min, k_max) - k_min, as float."""
    k_min, k_max = spec.levels
    log2_rel = op.Div(op.Log(op.Div(op.Sqrt(area), op.floats(float(spec.canonical_scale)))), op.floats(math.log(2.0)))
    level = op.Floor(op.Add(op.Add(log2_rel, op.floats(float(spec.canonical_level))), op.floats(float(spec.level_eps))))
    return op.Sub(op.Clip(level, op.floats(float(k_min)), op.floats(float(k_max))), op.floats(float(k_min)))


def canvas_level_sizes(spec: RoIAlignSpec, canvas: tuple[int, int]) -> list[tuple[int, int]]:
    """Each level's H, W on the export canvas (the backbone's ceil division)."""
    return [(-(-canvas[0] // s), -(-canvas[1] // s)) for s in spec.strides]


def is_separable(spec: RoIAlignSpec, level_sizes: list[tuple[int, int]] | None,
                 roi_bound: tuple[int, int] | None) -> bool:
    """Whether ``build_function`` lowers this node as matrix products (its output then comes from a
    bin-row-major layout, which ``row_major_head`` lets an MLP head read without a copy)."""
    used = spec.reachable_levels(roi_bound)
    return (spec.mode is RoIMode.align and level_sizes is not None
            and prefer_separable(level_sizes[:used], (spec.output_size, spec.output_size), spec.sampling_ratio))


def build_function(spec: RoIAlignSpec, opset: int, level_sizes: list[tuple[int, int]] | None = None,
                   roi_bound: tuple[int, int] | None = None) -> onnx.FunctionProto:
    """The standard-ONNX body of MultiLevelRoIAlign for this spec.

    ``level_sizes`` (each level's H, W on the export canvas) lets a small pyramid use the
    separable two-GEMM lowering; without it, or for large pyramids, adaptive sampling or pool
    mode, levels use the direct ``RoiAlign``/``MaxRoiPool``. ``roi_bound``: the canvas, when every
    RoI is clipped to it (proposals, detections; not a file's external ``rois``). Levels no RoI can
    map to (``RoIAlignSpec.reachable_levels``) get no nodes at all: their inputs stay in the
    signature (the node's contract) and are never read.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"MultiLevelRoIAlign's body needs opset >= {MIN_OPSET}, got {opset}")
    op = OnnxBuilder(f"{OP_TYPE}/")
    rois = op.input("rois")
    features = [op.input(f"f{i}") for i in range(spec.num_levels)]
    out_hw = op.ints([spec.output_size, spec.output_size])
    rois_shape = op.Shape(rois)
    batch = op.Slice(rois_shape, op.ints([0]), op.ints([1]))
    count = op.Slice(rois_shape, op.ints([1]), op.ints([2]))
    channels = op.Slice(op.Shape(features[0]), op.ints([1]), op.ints([2]))
    flat = op.Reshape(rois, op.ints([-1, 4]))
    x1, y1, x2, y2 = (op.Slice(flat, op.ints([i]), op.ints([i + 1]), op.ints([1])) for i in range(4))
    area = op.Squeeze(op.Mul(op.Sub(x2, x1), op.Sub(y2, y1)), op.ints([1]))
    level = level_index(op, area, spec)

    size = (spec.output_size, spec.output_size)
    used = spec.reachable_levels(roi_bound)
    features, strides = features[:used], spec.strides[:used]
    if is_separable(spec, level_sizes, roi_bound):
        dense = []
        for lvl, (feature, stride) in enumerate(zip(features, strides)):
            # masked even when one level is left: a malformed RoI (x2 < x1: a NaN level) is on none, zeros
            on_level = op.Cast(op.Equal(level, op.floats(float(lvl))), to=FLOAT)
            dense.append(separable_level(op, feature, (x1, y1, x2, y2), on_level, batch, channels, size,
                                         spec.sampling_ratio, stride, spec.aligned))
        # [N, OH, C, OW] per level with zero rows for other levels' RoIs: their sum is exact. The layout
        # change comes last, on its own, so a consumer that transposes back cancels it (row_major_head)
        rows = op.Reshape(op.Sum(*dense) if len(dense) > 1 else dense[0],
                          op.Concat(batch, count, op.ints([spec.output_size]), channels,
                                    op.ints([spec.output_size]), axis=0))
        out = op.Transpose(rows, perm=[0, 1, 3, 2, 4])
    else:
        batch_idx = _batch_index(op, batch, count)
        n = op.Shape(batch_idx)
        pooled = op.CastLike(op.ConstantOfShape(op.Concat(n, channels, out_hw, axis=0)), rois)
        for lvl, (feature, stride) in enumerate(zip(features, strides)):
            pooled = _direct_level(op, lvl, feature, stride, spec, flat, batch_idx, level, rois, pooled)
        out = op.Reshape(pooled, op.Concat(batch, count, channels, out_hw, axis=0))
    return op.function(DOMAIN, OP_TYPE, {"pooled": out}, opset, list(ATTRIBUTE_KINDS))


def _batch_index(op: OnnxBuilder, batch: ir.Value, count: ir.Value) -> ir.Value:
    """[N]: the image of every flattened RoI (B*R of them)."""
    images = op.Range(op.ints(0), op.Squeeze(batch), op.ints(1))
    grid = op.Expand(op.Unsqueeze(images, op.ints([1])), op.Concat(batch, count, axis=0))
    return op.Squeeze(op.Flatten(grid, axis=0), op.ints([0]))


def _direct_level(op: OnnxBuilder, lvl: int, feature: ir.Value, stride: int, spec: RoIAlignSpec, flat: ir.Value,
                  batch_idx: ir.Value, level: ir.Value, like: ir.Value, acc: ir.Value) -> ir.Value:
    """Route this level's RoIs with NonZero, pool them once with RoiAlign/MaxRoiPool, scatter into ``acc``."""
    oh = ow = spec.output_size
    idx = op.Squeeze(op.Transpose(op.NonZero(op.Equal(level, op.floats(float(lvl)))), perm=[1, 0]), op.ints([1]))
    level_rois = op.Gather(flat, idx, axis=0)
    level_batch = op.Gather(batch_idx, idx, axis=0)
    if spec.mode is RoIMode.pool:
        batch_col = op.Unsqueeze(op.CastLike(op.Cast(level_batch, to=FLOAT), like), op.ints([1]))
        pooled = op.MaxRoiPool(feature, op.Concat(batch_col, level_rois, axis=1), pooled_shape=[oh, ow],
                               spatial_scale=1.0 / stride)
    else:
        pooled = op.RoiAlign(feature, level_rois, level_batch, mode="avg", output_height=oh, output_width=ow,
                             sampling_ratio=int(spec.sampling_ratio), spatial_scale=1.0 / stride,
                             coordinate_transformation_mode="half_pixel" if spec.aligned else "output_half_pixel")
    return op.ScatterND(acc, op.Unsqueeze(idx, op.ints([1])), pooled)
