"""Training: checkpoints are plain torchvision state dicts; a short run lowers all four losses."""

from __future__ import annotations

import pytest
import torch
import torchvision

from edgedet.architectures import build_model
from edgedet.checkpoints import model_from_checkpoint
from edgedet.training.curves import LOSS_NAMES, read_log
from edgedet.training.trainer import TrainConfig, train


@pytest.mark.slow
def test_run_writes_everything(trained):
    for path in (trained.best, trained.last, trained.metrics_csv, trained.curve_png):
        assert path.is_file() and path.stat().st_size > 0
    ckpt = torch.load(trained.best, weights_only=True)
    assert set(ckpt) >= {"model", "meta"}
    assert ckpt["meta"]["architecture"] == "fasterrcnn_edge_fpn"
    assert ckpt["meta"]["class_names"][0] == "__background__"


def _fixed_losses(model, data_root, seed: int = 0) -> dict[str, float]:
    """The four losses of ``model`` on a fixed batch, with fixed RoI proposals and sampling seeds.

    The RoI-head losses are normalised by the sampled RoIs, so with the model's own proposals a
    better RPN (more positives) *raises* them; scoring both models on the same proposals (jittered
    ground truth plus random boxes) compares like with like.
    """
    import copy

    from edgedet.data.coco import load_split
    from edgedet.training.dataset import DetectionDataset, collate

    data = load_split(data_root, "train")
    images, targets = collate([DetectionDataset(data, (128, 128))[i] for i in range(8)])
    g = torch.Generator().manual_seed(seed)
    proposals = []
    for t in targets:
        gt = t["boxes"]
        jitter = gt + torch.randn(gt.shape, generator=g) * 4
        rand_xy = torch.rand(24, 2, generator=g) * 100
        rand = torch.cat([rand_xy, rand_xy + 8 + torch.rand(24, 2, generator=g) * 40], 1)
        proposals.append(torch.cat([jitter, rand]).clamp(0, 128))
    model = copy.deepcopy(model).train()
    torch.manual_seed(seed)
    with torch.no_grad():
        image_list, targets = model.transform(images, targets)
        features = model.backbone(image_list.tensors)
        _, rpn_losses = model.rpn(image_list, features, targets)
        torch.manual_seed(seed)
        _, roi_losses = model.roi_heads(features, proposals, image_list.image_sizes, targets)
    return {k: float(v) for k, v in {**rpn_losses, **roi_losses}.items()}


@pytest.mark.slow
def test_all_four_losses_fall(synth_data, tmp_path):
    """A short run on a fixed set lowers each of the four losses (logged per step, and on a fixed probe)."""
    cfg = TrainConfig(data=str(synth_data), out=str(tmp_path), epochs=12, batch_size=4, lr=2e-3, canvas=(128, 128),
                      eval_every=-1, warmup_steps=10, augment=False, seed=0)
    torch.manual_seed(0)
    initial = build_model("fasterrcnn_edge_fpn", 5, (128, 128))
    train(cfg)
    rows = read_log(tmp_path / "metrics.csv")
    assert len(rows) == 72 and set(LOSS_NAMES) <= set(rows[0])
    trained_model, _ = model_from_checkpoint(tmp_path / "last.pt")
    before, after = _fixed_losses(initial, synth_data), _fixed_losses(trained_model, synth_data)
    for name in LOSS_NAMES:
        assert after[name] < before[name], f"{name}: {before[name]:.4f} -> {after[name]:.4f}"


@pytest.mark.slow
def test_checkpoint_loads_strictly_into_torchvision_constructor(synth_data, tmp_path):
    """A torchvision architecture trained here loads with strict=True into torchvision's own builder."""
    cfg = TrainConfig(data=str(synth_data), out=str(tmp_path), arch="fasterrcnn_mobilenet_v3_large_320_fpn",
                      epochs=1, batch_size=2, canvas=(128, 128), eval_every=-1, max_steps=2)
    result = train(cfg)
    state = torch.load(result.best, weights_only=True)["model"]
    ref = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=5, min_size=128, max_size=128).eval()
    ref.load_state_dict(state, strict=True)
    ours, _ = model_from_checkpoint(result.best)
    torch.manual_seed(0)
    images = [torch.rand(3, 128, 128), torch.rand(3, 128, 128)]
    with torch.no_grad():
        a, b = ref(images), ours(images)
    for x, y in zip(a, b):
        for key in ("boxes", "scores", "labels"):
            assert torch.equal(x[key], y[key])


@pytest.mark.slow
def test_edge_checkpoint_loads_strictly(trained):
    state = torch.load(trained.best, weights_only=True)["model"]
    model = build_model("fasterrcnn_edge_fpn", 5, (128, 128))
    model.load_state_dict(state, strict=True)


@pytest.mark.slow
def test_resume_continues_from_last(synth_data, tmp_path):
    cfg = TrainConfig(data=str(synth_data), out=str(tmp_path), epochs=1, batch_size=4, canvas=(128, 128),
                      eval_every=-1)
    train(cfg)
    steps_first = len(read_log(tmp_path / "metrics.csv"))
    cfg.epochs, cfg.resume = 2, True
    result = train(cfg)
    rows = read_log(tmp_path / "metrics.csv")
    assert len(rows) == 2 * steps_first
    assert rows[steps_first]["step"] == steps_first and rows[steps_first]["epoch"] == 1
    assert torch.load(result.last, weights_only=True)["epoch"] == 1


def test_frozen_backbone_stages_do_not_change(synth_data, tmp_path):
    cfg = TrainConfig(data=str(synth_data), out=str(tmp_path), epochs=1, batch_size=4, canvas=(128, 128),
                      eval_every=-1, trainable_layers=2, max_steps=3, seed=1)
    torch.manual_seed(1)
    init = build_model("fasterrcnn_edge_fpn", 5, (128, 128)).state_dict()
    result = train(cfg)
    after = torch.load(result.last, weights_only=True)["model"]
    # stem, stage1, stage2 frozen (weights); stage4 trained
    assert torch.equal(init["backbone.body.stem.0.weight"], after["backbone.body.stem.0.weight"])
    assert torch.equal(init["backbone.body.stage2.0.0.weight"], after["backbone.body.stage2.0.0.weight"])
    assert not torch.equal(init["backbone.body.stage4.0.0.weight"], after["backbone.body.stage4.0.0.weight"])


@pytest.mark.slow
def test_plan_states_the_true_step_count(synth_data, tmp_path):
    """24 training images in batches of 5: the loader drops the partial batch, so an epoch is 4 steps
    (a ceiling division would promise 5 and leave the progress bar short of 100 %)."""
    plans, steps = [], []
    cfg = TrainConfig(data=str(synth_data), out=str(tmp_path), epochs=2, batch_size=5, canvas=(128, 128),
                      eval_every=-1, max_steps=None)
    train(cfg, on_step=steps.append, on_plan=plans.append)
    (plan,) = plans
    assert plan.steps_per_epoch == 24 // 5 and plan.total_steps == 2 * (24 // 5)
    assert len(steps) == plan.total_steps and steps[-1]["step"] == plan.total_steps - 1
