"""``edgedet::MultiLevelRoIAlign``: the ONNX schema of our node and its standard-ONNX function body.

The node is what TensorRT sees (our plugin replaces it, matched by name, version and
``plugin_namespace``); the model-local function of the same name and domain is what every
other ONNX runtime executes, built from standard ONNX only. The body is generated from the
node's own attributes, so the two cannot disagree.

The pyramid is lowered one of two ways, chosen from its size on the export canvas:
small pyramids as two matrix products per level (:mod:`export.roi_align_separable`; static, no routing),
large ones (and pool mode, and adaptive sampling) with the standard ``RoiAlign`` (opset >= 16,
``coordinate_transformation_mode`` written out) or ``MaxRoiPool``, RoIs routed to their level
with NonZero/Gather/ScatterND so each is pooled once. That dynamic size lives only inside the
fallback body; the graph around the node and the plugin's output are static.
"""

from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper

from export.onnx_nodes import constant as _const
from export.roi_align_separable import prefer_separable, separable_level_nodes

DOMAIN = "edgedet"
OP_TYPE = "MultiLevelRoIAlign"
VERSION = 1
MIN_OPSET = 16  # RoiAlign's coordinate_transformation_mode

ATTRIBUTE_TYPES = {
    "output_height": onnx.defs.OpSchema.AttrType.INT,
    "output_width": onnx.defs.OpSchema.AttrType.INT,
    "sampling_ratio": onnx.defs.OpSchema.AttrType.INT,
    "aligned": onnx.defs.OpSchema.AttrType.INT,
    "canonical_scale": onnx.defs.OpSchema.AttrType.FLOAT,
    "canonical_level": onnx.defs.OpSchema.AttrType.INT,
    "strides": onnx.defs.OpSchema.AttrType.INTS,
    "level_eps": onnx.defs.OpSchema.AttrType.FLOAT,
    "mode": onnx.defs.OpSchema.AttrType.STRING,
    "plugin_namespace": onnx.defs.OpSchema.AttrType.STRING,
    "plugin_version": onnx.defs.OpSchema.AttrType.STRING,
}


def node_attributes(strides, output_size, sampling_ratio, aligned, canonical_scale, canonical_level,
                    mode) -> dict:
    """Every attribute of the node, explicit; the TensorRT plugin's fields have the same names."""
    if mode not in ("align", "pool"):
        raise ValueError(f"mode must be 'align' or 'pool', got {mode!r}")
    return {
        "output_height": int(output_size),
        "output_width": int(output_size),
        "sampling_ratio": int(sampling_ratio),
        "aligned": int(bool(aligned)),
        "canonical_scale": float(canonical_scale),
        "canonical_level": int(canonical_level),
        "strides": [int(s) for s in strides],
        "level_eps": 1e-6,
        "mode": str(mode),
        "plugin_namespace": DOMAIN,
        "plugin_version": str(VERSION),
    }


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


def build_function(attrs: dict, num_levels: int, opset: int,
                   level_sizes: list[tuple[int, int]] | None = None) -> onnx.FunctionProto:
    """The standard-ONNX body of MultiLevelRoIAlign for these attributes and level count.

    ``level_sizes`` (each level's H, W on the export canvas) lets a small pyramid use the
    separable two-GEMM lowering (:mod:`export.roi_align_separable`); without it, or for large
    pyramids, adaptive sampling or pool mode, levels use the direct ``RoiAlign``/``MaxRoiPool``.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"MultiLevelRoIAlign's body needs opset >= {MIN_OPSET}, got {opset}")
    strides = attrs["strides"]
    if len(strides) != num_levels:
        raise ValueError(f"{len(strides)} strides for {num_levels} feature levels")
    k_min, k_max = round(math.log2(strides[0])), round(math.log2(strides[-1]))
    oh, ow = attrs["output_height"], attrs["output_width"]
    features = [f"f{i}" for i in range(num_levels)]
    n: list[onnx.NodeProto] = [
        _const("shape_flat", [-1, 4], TensorProto.INT64),
        _const("i0", [0], TensorProto.INT64), _const("i1", [1], TensorProto.INT64),
        _const("i2", [2], TensorProto.INT64), _const("i3", [3], TensorProto.INT64),
        _const("i4", [4], TensorProto.INT64), _const("out_hw", [oh, ow], TensorProto.INT64),
        _const("s0", float(attrs["canonical_scale"])), _const("l0", float(attrs["canonical_level"])),
        _const("ln2", math.log(2.0)), _const("eps", float(attrs["level_eps"])),
        _const("kmin", float(k_min)), _const("kmax", float(k_max)),
        _const("zero_i", 0, TensorProto.INT64), _const("one_i", 1, TensorProto.INT64),
        helper.make_node("Shape", ["rois"], ["rois_shape"]),
        helper.make_node("Slice", ["rois_shape", "i0", "i1"], ["B"]),
        helper.make_node("Slice", ["rois_shape", "i1", "i2"], ["R"]),
        helper.make_node("Shape", [features[0]], ["f_shape"]),
        helper.make_node("Slice", ["f_shape", "i1", "i2"], ["C"]),
        helper.make_node("Reshape", ["rois", "shape_flat"], ["flat"]),
        helper.make_node("Slice", ["flat", "i0", "i1", "i1"], ["x1"]),
        helper.make_node("Slice", ["flat", "i1", "i2", "i1"], ["y1"]),
        helper.make_node("Slice", ["flat", "i2", "i3", "i1"], ["x2"]),
        helper.make_node("Slice", ["flat", "i3", "i4", "i1"], ["y2"]),
        helper.make_node("Sub", ["x2", "x1"], ["w"]), helper.make_node("Sub", ["y2", "y1"], ["h"]),
        helper.make_node("Mul", ["w", "h"], ["area2d"]),
        helper.make_node("Squeeze", ["area2d", "i1"], ["area"]),
        # level = clamp(floor(l0 + log2(sqrt(area) / s0) + eps), kmin, kmax) - kmin  (torchvision LevelMapper)
        helper.make_node("Sqrt", ["area"], ["side"]),
        helper.make_node("Div", ["side", "s0"], ["rel"]),
        helper.make_node("Log", ["rel"], ["ln_rel"]),
        helper.make_node("Div", ["ln_rel", "ln2"], ["log2_rel"]),
        helper.make_node("Add", ["log2_rel", "l0"], ["lvl_a"]),
        helper.make_node("Add", ["lvl_a", "eps"], ["lvl_b"]),
        helper.make_node("Floor", ["lvl_b"], ["lvl_c"]),
        helper.make_node("Clip", ["lvl_c", "kmin", "kmax"], ["lvl_d"]),
        helper.make_node("Sub", ["lvl_d", "kmin"], ["level"]),
    ]
    sr, aligned = int(attrs["sampling_ratio"]), bool(attrs["aligned"])
    if attrs["mode"] == "align" and level_sizes is not None and prefer_separable(level_sizes, (oh, ow), sr):
        dense_out = []
        for lvl in range(num_levels):
            p = f"l{lvl}_"
            n += [_const(p + "id", float(lvl)),
                  helper.make_node("Equal", ["level", p + "id"], [p + "is"]),
                  helper.make_node("Cast", [p + "is"], [p + "on"], to=TensorProto.FLOAT)]
            n += separable_level_nodes(p, features[lvl], ("x1", "y1", "x2", "y2"), p + "on", "B", "C",
                                       (oh, ow), sr, strides[lvl], aligned, p + "dense")
            dense_out.append(p + "dense")
        # [N, OH, C, OW] per level with zero rows for other levels' RoIs: their sum is exact
        n += [helper.make_node("Sum", dense_out, ["dense_sum"]),
              helper.make_node("Transpose", ["dense_sum"], ["acc"], perm=[0, 2, 1, 3])]
    else:
        n += _batch_index_nodes()
        n += [helper.make_node("Concat", ["N", "C", "out_hw"], ["acc_shape"], axis=0),
              helper.make_node("ConstantOfShape", ["acc_shape"], ["acc_f32"]),
              helper.make_node("CastLike", ["acc_f32", "rois"], ["acc_0"])]
        for lvl in range(num_levels):
            n += _direct_level_nodes(f"l{lvl}_", lvl, features[lvl], strides[lvl], attrs, f"acc_{lvl}",
                                     "acc" if lvl == num_levels - 1 else f"acc_{lvl + 1}")
    n += [
        helper.make_node("Concat", ["B", "R", "C", "out_hw"], ["out_shape"], axis=0),
        helper.make_node("Reshape", ["acc", "out_shape"], ["pooled"]),
    ]
    for i, node in enumerate(n):  # named, so profilers can attribute the inlined body to this op
        node.name = f"{OP_TYPE}/{i}_{node.op_type}"
    return helper.make_function(
        DOMAIN, OP_TYPE, ["rois", *features], ["pooled"], n,
        opset_imports=[helper.make_opsetid("", opset)], attributes=list(ATTRIBUTE_TYPES),
    )


def _batch_index_nodes() -> list[onnx.NodeProto]:
    """``batch_idx`` [N]: the image of every flattened RoI; ``N`` its length."""
    return [
        helper.make_node("Squeeze", ["B"], ["B_s"]),
        helper.make_node("Range", ["zero_i", "B_s", "one_i"], ["b_range"]),
        helper.make_node("Unsqueeze", ["b_range", "i1"], ["b_col"]),
        helper.make_node("Concat", ["B", "R"], ["BR"], axis=0),
        helper.make_node("Expand", ["b_col", "BR"], ["b_grid"]),
        helper.make_node("Flatten", ["b_grid"], ["b_flat2d"], axis=0),
        helper.make_node("Squeeze", ["b_flat2d", "i0"], ["batch_idx"]),
        helper.make_node("Shape", ["batch_idx"], ["N"]),
    ]


def _direct_level_nodes(p: str, lvl: int, feat: str, stride: int, attrs: dict, acc_in: str, acc_out: str,
                        ) -> list[onnx.NodeProto]:
    """Route this level's RoIs with NonZero, pool them once with RoiAlign/MaxRoiPool, scatter into ``acc``."""
    oh, ow = attrs["output_height"], attrs["output_width"]
    n = [
        _const(p + "id", float(lvl)),
        helper.make_node("Equal", ["level", p + "id"], [p + "is"]),
        helper.make_node("NonZero", [p + "is"], [p + "nz"]),
        helper.make_node("Transpose", [p + "nz"], [p + "idx2d"], perm=[1, 0]),
        helper.make_node("Squeeze", [p + "idx2d", "i1"], [p + "idx"]),
        helper.make_node("Gather", ["flat", p + "idx"], [p + "rois"], axis=0),
        helper.make_node("Gather", ["batch_idx", p + "idx"], [p + "bidx"], axis=0),
    ]
    if attrs["mode"] == "pool":
        n += [
            helper.make_node("Cast", [p + "bidx"], [p + "bidx_f32"], to=TensorProto.FLOAT),
            helper.make_node("CastLike", [p + "bidx_f32", "rois"], [p + "bidx_f"]),
            helper.make_node("Unsqueeze", [p + "bidx_f", "i1"], [p + "bcol"]),
            helper.make_node("Concat", [p + "bcol", p + "rois"], [p + "rois5"], axis=1),
            helper.make_node("MaxRoiPool", [feat, p + "rois5"], [p + "out"], pooled_shape=[oh, ow],
                             spatial_scale=1.0 / stride),
        ]
    else:
        n.append(helper.make_node(
            "RoiAlign", [feat, p + "rois", p + "bidx"], [p + "out"], mode="avg", output_height=oh,
            output_width=ow, sampling_ratio=int(attrs["sampling_ratio"]), spatial_scale=1.0 / stride,
            coordinate_transformation_mode="half_pixel" if attrs["aligned"] else "output_half_pixel"))
    return n + [
        helper.make_node("Unsqueeze", [p + "idx", "i1"], [p + "scatter_idx"]),
        helper.make_node("ScatterND", [acc_in, p + "scatter_idx", p + "out"], [acc_out]),
    ]
