"""Users' weight files: a torchvision state dict with another class count, and backbone-only weights."""

from __future__ import annotations

import pytest
import torch

from edgedet.architectures import build_model
from edgedet.checkpoints import PREDICTOR_PREFIX, load_backbone, load_into
from edgedet.runtime.errors import EdgedetError


def test_class_head_is_replaced_when_class_count_differs(tmp_path):
    torch.manual_seed(0)
    source = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", 91, (128, 128))
    path = tmp_path / "coco.pth"
    torch.save(source.state_dict(), path)  # the layout of torchvision's published weights files
    target = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", 4, (128, 128))
    left = load_into(target, path, "fasterrcnn_mobilenet_v3_large_320_fpn")
    assert set(left) == {PREDICTOR_PREFIX + n for n in ("cls_score.weight", "cls_score.bias", "bbox_pred.weight",
                                                       "bbox_pred.bias")}
    src, dst = source.state_dict(), target.state_dict()
    for key in dst:
        if not key.startswith(PREDICTOR_PREFIX):
            assert torch.equal(src[key], dst[key]), key
    assert dst[PREDICTOR_PREFIX + "cls_score.weight"].shape[0] == 4


def test_same_class_count_loads_everything(tmp_path):
    source = build_model("fasterrcnn_edge_fpn", 5, (128, 128))
    path = tmp_path / "w.pt"
    torch.save(source.state_dict(), path)
    assert load_into(build_model("fasterrcnn_edge_fpn", 5, (128, 128)), path, "fasterrcnn_edge_fpn") == []


def test_wrong_architecture_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(build_model("fasterrcnn_edge_fpn", 5, (128, 128)).state_dict(), path)
    target = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", 5, (128, 128))
    with pytest.raises(EdgedetError, match="does not fit architecture"):
        load_into(target, path, "fasterrcnn_mobilenet_v3_large_320_fpn")


def test_imagenet_backbone_weights(tmp_path):
    import torchvision

    classifier = torchvision.models.mobilenet_v3_large(weights=None)
    path = tmp_path / "imagenet.pth"
    torch.save(classifier.state_dict(), path)
    model = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", 3, (128, 128))
    body_keys = set(model.backbone.body.state_dict())
    load_backbone(model, path)  # the classifier's own file: `features.*` is the detection body
    state = {k.replace("features.", "", 1): v for k, v in classifier.state_dict().items() if k.startswith("features.")}
    loaded = model.backbone.body.state_dict()
    assert body_keys <= set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in body_keys)
