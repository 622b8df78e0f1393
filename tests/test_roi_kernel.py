"""The Triton MultiLevelRoIAlign kernel against torchvision's own ops.

Without a GPU the kernel runs under Triton's interpreter (``TRITON_INTERPRET=1``, set before
Triton compiles anything); tests marked ``gpu`` run the same kernel compiled for a CUDA device.
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():  # normally already set by conftest, before triton was imported
    os.environ["TRITON_INTERPRET"] = "1"

from torchvision.ops import roi_pool  # noqa: E402

from edgedet.export.plugins import multilevel_roi_align  # noqa: E402
from tests.roi_reference import IMAGE, STRIDES, per_level, pyramid, random_rois, reference  # noqa: E402


@pytest.mark.slow
def test_align_matches_multiscale_roi_align():
    feats, rois = pyramid(), random_rois(2, 40)
    got = multilevel_roi_align(feats, rois, image_size=IMAGE)
    torch.testing.assert_close(got, reference(feats, rois), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("sampling_ratio", [1, 3, 0])  # 0 = adaptive, ceil(roi / output)
def test_sampling_ratios(sampling_ratio):
    feats, rois = pyramid(channels=3, batch=1), random_rois(1, 16, seed=3)
    got = multilevel_roi_align(feats, rois, image_size=IMAGE, sampling_ratio=sampling_ratio)
    torch.testing.assert_close(got, reference(feats, rois, sampling_ratio), atol=1e-5, rtol=1e-5)


def test_aligned_true():
    feats, rois = pyramid(channels=3, batch=1), random_rois(1, 16, seed=4)
    got = multilevel_roi_align(feats, rois, image_size=IMAGE, aligned=True)
    torch.testing.assert_close(got, reference(feats, rois, aligned=True), atol=1e-5, rtol=1e-5)


def test_pool_mode_matches_roi_pool_per_level():
    feats, rois = pyramid(channels=3, batch=2), random_rois(2, 20, seed=5)
    got = multilevel_roi_align(feats, rois, image_size=IMAGE, mode="pool")
    want = per_level(feats, rois, lambda f, b, s: roi_pool(f, b, 7, s))
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_level_and_stride_math_is_torchvisions():
    """Our one level/stride arithmetic (``roi_spec``, and the custom op's level mapping) against
    torchvision's ``MultiScaleRoIAlign``: the same inferred strides, the same level per RoI, and
    the test RoIs reach every level (so the kernel tests above cover each)."""
    from torchvision.ops.poolers import LevelMapper, _setup_scales

    from edgedet.export.custom_ops import level_of
    from edgedet.export.roi_spec import infer_strides, level_range

    feats = pyramid(channels=2, batch=1)
    scales, mapper = _setup_scales(feats, [IMAGE], 224, 4)  # what MultiScaleRoIAlign.forward calls
    strides = infer_strides([tuple(f.shape[-2:]) for f in feats], IMAGE)
    assert [1 / s for s in strides] == scales
    k_min, k_max = level_range(strides)
    assert (k_min, k_max) == (mapper.k_min, mapper.k_max)
    rois = random_rois(2, 40).reshape(-1, 4)
    rois = rois[(rois[:, 2] >= rois[:, 0]) & (rois[:, 3] >= rois[:, 1])]
    want = LevelMapper(k_min, k_max)([rois])
    got = level_of(rois, 224.0, 4, k_min, k_max)
    torch.testing.assert_close(got, want.to(got.dtype), atol=0, rtol=0)
    assert set(got.tolist()) == {0, 1, 2, 3}


def test_fp16_close_to_fp32():
    feats, rois = pyramid(channels=4, batch=1), random_rois(1, 12, seed=6)
    full = multilevel_roi_align(feats, rois, image_size=IMAGE)
    half = multilevel_roi_align([f.half() for f in feats], rois.half(), image_size=IMAGE)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), full, atol=3e-2, rtol=3e-2)


def test_custom_op_eager_implementation_agrees():
    """The eager implementation behind the exporter's custom op is the same computation."""
    from edgedet.export.custom_ops import roi_align
    from edgedet.export.roi_spec import RoIAlignSpec

    feats, rois = pyramid(channels=3, batch=2), random_rois(2, 24, seed=7)
    want = roi_align(rois, feats, RoIAlignSpec(STRIDES))
    got = multilevel_roi_align(feats, rois, image_size=IMAGE)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.gpu
def test_gpu_matches_torchvision_on_gpu():
    feats = pyramid(channels=64, batch=2, device="cuda")
    rois = random_rois(2, 300).cuda()
    for mode in ("align", "pool"):
        got = multilevel_roi_align(feats, rois, image_size=IMAGE, mode=mode)
        cpu_feats = [f.cpu() for f in feats]
        if mode == "align":
            want = reference(cpu_feats, rois.cpu())
        else:
            want = per_level(cpu_feats, rois.cpu(), lambda f, b, s: roi_pool(f, b, 7, s))
        torch.testing.assert_close(got.cpu(), want, atol=1e-5, rtol=1e-5)
