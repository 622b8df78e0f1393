"""The box head reading RoI features bin-row-major (``export/row_major_head.py``): the same function as
torchvision's ``TwoMLPHead`` (factored or not), and the layout change it exists to remove is gone from
the graph ONNX Runtime actually runs."""

from __future__ import annotations

import copy

import onnx
import onnx.inliner
import onnxruntime as ort
import pytest
import torch
from torchvision.models.detection.faster_rcnn import TwoMLPHead

from edgedet.export.row_major_head import RowMajorMLPHead


class _Heads(torch.nn.Module):  # box_head_svd factors model.roi_heads.box_head
    def __init__(self, head):
        super().__init__()
        self.roi_heads = torch.nn.Module()
        self.roi_heads.box_head = head


@pytest.mark.parametrize("svd_rank", [None, 24])
def test_row_major_head_is_torchvisions_two_mlp_head(svd_rank):
    from edgedet.export.box_head_svd import factor_box_head

    torch.manual_seed(0)
    head = TwoMLPHead(16 * 7 * 7, 64).eval()
    if svd_rank:
        holder = _Heads(copy.deepcopy(head))
        factor_box_head(holder, {"fc6": svd_rank})
        head = holder.roi_heads.box_head
    pooled = torch.randn(2, 5, 16, 7, 7)
    with torch.no_grad():
        expected = head(pooled.flatten(0, 1))
        got = RowMajorMLPHead(head, 7)(pooled)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


ROWS_TO_CHANNELS = [0, 1, 3, 2, 4]  # [B, R, OH, C, OW] <-> [B, R, C, OH, OW], its own inverse


def _layout_changes(model: onnx.ModelProto) -> int:
    return sum(1 for n in model.graph.node if n.op_type == "Transpose"
               and list(next(a.ints for a in n.attribute if a.name == "perm")) == ROWS_TO_CHANNELS)


@pytest.mark.slow
def test_onnxruntime_runs_no_layout_change_between_roi_align_and_the_head(seeded_export, tmp_path):
    """mobilenet320's file: inlined, the body's closing Transpose and the head's are adjacent inverses;
    in the graph onnxruntime optimizes and runs, neither is left."""
    _, _, path = seeded_export("fasterrcnn_mobilenet_v3_large_320_fpn", (320, 320))
    inlined = onnx.inliner.inline_local_functions(onnx.load(str(path)))
    assert _layout_changes(inlined) == 2
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    assert _layout_changes(onnx.load(str(tmp_path / "optimized.onnx"))) == 0


@pytest.mark.slow
def test_only_the_separable_lowering_gets_the_row_major_head():
    """At 800 a ResNet-50 FPN's pyramid is lowered with RoiAlign, which writes the node's layout itself:
    a row-major head there would add a copy instead of removing one."""
    from edgedet.architectures.seeded import seeded_model
    from edgedet.export.deploy_model import DeployRCNN

    small = DeployRCNN(seeded_model("fasterrcnn_mobilenet_v3_large_320_fpn", 5, (320, 320), seed=0), (320, 320))
    large = DeployRCNN(seeded_model("fasterrcnn_resnet50_fpn", 5, (800, 800), seed=0), (800, 800))
    assert isinstance(small.box.mlp, RowMajorMLPHead) and large.box.mlp is None
