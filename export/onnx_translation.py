"""ONNX translations of the custom torch ops, for ``torch.onnx.export(custom_translation_table=...)``.

``multilevel_roi_align`` becomes one ``edgedet::MultiLevelRoIAlign`` node (its standard-ONNX
function body is attached afterwards by ``export.roi_align_function``); ``nms_keep_mask``
becomes standard ``NonMaxSuppression`` scattered into a fixed-size mask, which TensorRT
maps to its native NMS layer.
"""

from __future__ import annotations

import onnxscript
import torch
from onnxscript import opset18 as op

from edgedet.export.custom_ops import spec_from_op_args  # importing it registers torch.ops.edgedet.*
from edgedet.export.roi_align_function import register_schema
from edgedet.export.roi_spec import DOMAIN, OP_TYPE, VERSION

register_schema()
edgedet_opset = onnxscript.values.Opset(DOMAIN, VERSION)


def _roi_align(rois, features, *spec_args):
    attrs = spec_from_op_args(*spec_args).node_attributes()
    return getattr(edgedet_opset, OP_TYPE)(rois, *features, **attrs)


def _nms_keep_mask(boxes, scores, iou_threshold: float, score_threshold: float):
    max_out = op.Constant(value_ints=[2**31 - 1])
    iou = op.Constant(value_floats=[iou_threshold])
    thresh = op.Constant(value_floats=[score_threshold])
    selected = op.NonMaxSuppression(boxes, scores, max_out, iou, thresh)  # [K, 3]
    zeros = op.ConstantOfShape(op.Shape(scores))  # float 0, [G, C, M]
    count = op.Shape(selected, start=0, end=1)
    ones = op.Expand(op.Constant(value_float=1.0), count)
    mask = op.ScatterND(zeros, selected, ones)
    return op.Cast(mask, to=onnxscript.ir.DataType.BOOL)


def translation_table() -> dict:
    return {
        torch.ops.edgedet.multilevel_roi_align.default: _roi_align,
        torch.ops.edgedet.nms_keep_mask.default: _nms_keep_mask,
    }
