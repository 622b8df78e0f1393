"""torchvision's Faster R-CNN architectures exported and checked against eager torchvision, batch 1 and
batch 4 (a file of their own, so the suite's workers share these long exports out with the rest).

They use seeded random weights whose heads are re-scaled so that scores spread out (torchvision's head init
gives ~uniform class scores, all below the 0.05 threshold); canvases are smaller than the architectures'
defaults to keep the suite fast; the full-canvas runs are in bench/parity_all.py and docs/results.md.
"""

from __future__ import annotations

import pytest

from edgedet.eager_detector import TorchDetector
from edgedet.export.check import check_parity, parity_images
from tests.test_export_parity import _assert_parity


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "canvas"),
    [
        # fasterrcnn_mobilenet_v3_large_fpn is the 320 build's network (other sizes and RPN budgets): its
        # full-canvas parity is in bench/parity_all.py, kept out of the suite for CI time
        ("fasterrcnn_mobilenet_v3_large_320_fpn", (320, 320)),
        # Near a tie: with torch on two threads one box of this seeded model lands at IoU 0.57 (a rounding
        # difference of the threaded convolutions decides which of two almost equal proposals survives NMS);
        # on one thread, as the suite runs (tests/conftest.py), it matches exactly. Not a dependency's drift
        # (the stop-28 note's guess): the same releases pass or fail by thread count.
        ("fasterrcnn_resnet50_fpn", (256, 256)),
        ("fasterrcnn_resnet50_fpn_v2", (256, 256)),
    ],
)
def test_torchvision_architectures(arch, canvas, seeded_export):
    model, names, path = seeded_export(arch, canvas)
    images = parity_images(canvas, synthetic=2, photos=True)[:4]
    _assert_parity(check_parity(path, TorchDetector(model, names, canvas), images, batch=4))


