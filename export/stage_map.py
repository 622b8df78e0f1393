"""Which pipeline stage each node of an exported graph belongs to, for the operator profile.

Read from the graph's structure alone (no naming convention): the RoI Align node's feature
inputs descend from the backbone, its RoI input from the RPN, and what follows it is the RoI
head; NMS nodes are recognised by type. A Keypoint R-CNN's keypoint branch (its second RoI Align,
the keypoint head, the heatmap decode: every node that only the ``keypoints`` output needs) is its
own stage, ``keypoints``. Every node's output value names map to its stage too:
ONNX Runtime's graph optimisers name the nodes they create after the value they compute (a fused
Conv+ReLU of the backbone reports as ``relu_3_nchwc``), so a profile names values as often as nodes.
It lives in the exporter because it reads the graph with the ``onnx`` package, which the torch-free
runtime does not import.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from edgedet.export.roi_spec import OP_TYPE
from edgedet.runtime.outputs import KEYPOINTS_OUTPUT


def node_stages(model_path: str | Path) -> dict[str, str]:
    graph = onnx.load(str(model_path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def ancestors(tensors) -> set[str]:
        seen: set[str] = set()
        stack = list(tensors)
        while stack:
            node = producer.get(stack.pop())
            if node is not None and node.name not in seen:
                seen.add(node.name)
                stack.extend(node.input)
        return seen

    roi = [n for n in graph.node if n.op_type == OP_TYPE]
    stages: dict[str, str] = {}
    if not roi:
        return stages
    backbone = ancestors(roi[0].input[1:])
    before_roi = ancestors(roi[0].input[:1])
    outputs = [o.name for o in graph.output]
    keypoint_branch = (ancestors([KEYPOINTS_OUTPUT]) - ancestors([o for o in outputs if o != KEYPOINTS_OUTPUT])
                       if KEYPOINTS_OUTPUT in outputs else set())
    for node in graph.node:
        if node.name in keypoint_branch:
            stage = "keypoints"
        elif node.op_type in ("NonMaxSuppression", "ScatterND") or "nms" in node.name:
            stage = "nms"
        elif node.name == roi[0].name:
            stage = "roi_align"
        elif node.name in backbone:
            stage = "backbone"
        elif node.name in before_roi:
            stage = "rpn"
        else:
            stage = "roi_head"
        stages[node.name] = stage
        for value in node.output:
            stages.setdefault(value, stage)
    return stages
