"""torch -> one self-contained ONNX file: the static deploy graph, our RoI Align node with its
function body, the fixed outputs of the contract, and the metadata the runtime reads."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import onnx
import onnx.inliner
import torch
from torch import nn

from edgedet.export.deploy_model import DeployRCNN, PostprocessSpec, has_keypoints, postprocess_defaults, takes_rois
from edgedet.export.onnx_translation import translation_table
from edgedet.export.roi_align_function import build_function, canvas_level_sizes
from edgedet.export.roi_spec import DOMAIN, OP_TYPE, RoIAlignSpec, RoIMode
from edgedet.runtime import atomic
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_metadata import ModelMetadata
from edgedet.runtime.onnx_detector import ROIS_INPUT
from edgedet.runtime.outputs import KEYPOINTS_OUTPUT, OUTPUT_NAMES

KEYPOINT_OVERLOAD = "keypoints"
MIN_OPSET = 18  # the torch exporter's own floor; our function body needs >= 16
DEFAULT_OPSET = 18


@dataclass(frozen=True)
class ExportOptions:
    canvas: tuple[int, int]
    batch: int | None = 1  # None = dynamic
    opset: int = DEFAULT_OPSET
    score_thresh: float | None = None
    nms_thresh: float | None = None
    max_detections: int | None = None
    inline_functions: bool = False
    roi_mode: RoIMode = RoIMode.align
    rois: int = 500  # proposals per image of a model without an RPN (its ``rois`` input's second dimension)


def resolve_postprocess(model: nn.Module, opts: ExportOptions) -> PostprocessSpec:
    post = postprocess_defaults(model)
    if opts.score_thresh is not None:
        post = replace(post, box_score_thresh=float(opts.score_thresh))
    if opts.nms_thresh is not None:
        post = replace(post, box_nms_thresh=float(opts.nms_thresh))
    if opts.max_detections is not None:
        if opts.max_detections < 1:
            raise EdgedetError(f"max_detections must be at least 1, got {opts.max_detections}")
        post = replace(post, max_detections=int(opts.max_detections))
    return post


def _attach_roi_function(proto: onnx.ModelProto, opset: int, canvas: tuple[int, int]) -> None:
    """One function body per RoI Align node. A Keypoint R-CNN has two nodes (box head 7x7, keypoint
    head 14x14) of the same op with different attributes; since a body is built for one spec, the
    second is an *overload* of the function (ONNX IR 10): onnxruntime and onnx's inliner pick the
    body by the node's ``overload``, and TensorRT maps both nodes to the one plugin by op type."""
    nodes = [n for n in proto.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    if not 1 <= len(nodes) <= 2:
        raise RuntimeError(f"expected one or two {OP_TYPE} nodes in the exported graph, found {len(nodes)}")
    del proto.functions[:]
    rois_in_canvas = ROIS_INPUT not in {i.name for i in proto.graph.input}  # proposals/detections are clipped
    for i, node in enumerate(nodes):
        spec = RoIAlignSpec.from_attributes({a.name: onnx.helper.get_attribute_value(a) for a in node.attribute})
        if spec.num_levels != len(node.input) - 1:
            raise RuntimeError(f"{OP_TYPE} has {len(node.input) - 1} feature inputs for {spec.num_levels} strides")
        function = build_function(spec, opset, level_sizes=canvas_level_sizes(spec, canvas),
                                  roi_bound=canvas if rois_in_canvas else None)
        if i:
            node.overload = function.overload = KEYPOINT_OVERLOAD
            proto.ir_version = max(proto.ir_version, 10)
        proto.functions.append(function)


def _clean_metadata(proto: onnx.ModelProto) -> None:
    """Drop the exporter's per-value debugging metadata: it bloats the file and leaks paths."""
    for container in (proto.graph.node, proto.graph.input, proto.graph.output, proto.graph.value_info,
                      proto.graph.initializer):
        for item in container:
            del item.metadata_props[:]


def build_proto(model: nn.Module, meta: ModelMetadata, opts: ExportOptions) -> onnx.ModelProto:
    """``model``: a torchvision ``FasterRCNN``/``KeypointRCNN``, or any model of the same parts (backbone,
    transform, roi_heads) without an RPN, whose file then takes its proposals as a ``rois`` input."""
    if opts.opset < MIN_OPSET:
        raise EdgedetError(f"opset {opts.opset} is too old: edgedet exports opset {MIN_OPSET} or newer "
                           f"(RoiAlign with coordinate_transformation_mode needs >= 16, the exporter >= 18)")
    post = resolve_postprocess(model, opts)
    keypoints, fast = has_keypoints(model), takes_rois(model)
    deploy = DeployRCNN(model, opts.canvas, post, roi_mode=opts.roi_mode).eval()
    batch = opts.batch or 2
    example = (torch.zeros(batch, *opts.canvas, 3, dtype=torch.uint8),)
    inputs = ["images"]
    if fast:
        example += (torch.zeros(batch, opts.rois, 4),)
        inputs.append(ROIS_INPUT)
    batch_dim = torch.export.Dim("batch", min=1, max=256)
    dynamic = tuple({0: batch_dim} for _ in example) if opts.batch is None else None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch").setLevel(logging.ERROR)
        program = torch.onnx.export(
            deploy, example, dynamo=True, dynamic_shapes=dynamic, opset_version=opts.opset,
            custom_translation_table=translation_table(), input_names=inputs,
            output_names=list(OUTPUT_NAMES) + ([KEYPOINTS_OUTPUT] if keypoints else []), optimize=True,
            verbose=False, report=False,
        )
    proto = program.model_proto
    _attach_roi_function(proto, opts.opset, opts.canvas)
    _clean_metadata(proto)
    proto.producer_name = "edgedet"
    meta = replace(meta, batch=opts.batch, score_thresh=post.box_score_thresh, nms_thresh=post.box_nms_thresh,
                   max_detections=post.max_detections,
                   roi_mode=deploy.roi_spec.mode.value,
                   extra={**meta.extra,
                          **({"rois": opts.rois, "proposals": "external"} if fast else
                             {"rpn_pre_nms_top_n": post.rpn_pre_nms_top_n,
                              "rpn_post_nms_top_n": post.rpn_post_nms_top_n})})
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, meta.to_props())
    if opts.inline_functions:
        proto = onnx.inliner.inline_local_functions(proto)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: nn.Module, meta: ModelMetadata, out: str | Path, opts: ExportOptions) -> Path:
    """Build and write the file; a failed export leaves nothing behind."""
    return atomic.write_bytes(out, build_proto(model, meta, opts).SerializeToString())
